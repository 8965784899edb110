package wal

import (
	"fmt"
	"testing"
)

func BenchmarkAppend(b *testing.B) {
	for _, size := range []int{1 << 10, 128 << 10} {
		for _, noSync := range []bool{false, true} {
			mode := "fsync"
			if noSync {
				mode = "nosync"
			}
			b.Run(fmt.Sprintf("%dKiB/%s", size>>10, mode), func(b *testing.B) {
				l := open(b, b.TempDir(), Options{NoSync: noSync})
				p := rec(1, size)
				b.SetBytes(int64(size))
				b.ReportAllocs()
				for b.Loop() {
					if _, err := l.Append(p); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}

// BenchmarkAppendBatch appends 64 records of 1 KiB per fsync, as a block of
// transactions or a burst of consensus messages would.
func BenchmarkAppendBatch(b *testing.B) {
	l := open(b, b.TempDir(), Options{})
	batch := make([][]byte, 64)
	for i := range batch {
		batch[i] = rec(i, 1<<10)
	}
	b.SetBytes(64 << 10)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := l.Append(batch...); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkRead(b *testing.B) {
	const n = 4096
	for _, size := range []int{1 << 10, 128 << 10} {
		b.Run(fmt.Sprintf("%dKiB", size>>10), func(b *testing.B) {
			l := open(b, b.TempDir(), Options{NoSync: true})
			for i := range n {
				if _, err := l.Append(rec(i, size)); err != nil {
					b.Fatal(err)
				}
			}
			b.SetBytes(int64(size))
			b.ReportAllocs()
			i := uint64(0)
			for b.Loop() {
				if _, err := l.Read(i%n + 1); err != nil {
					b.Fatal(err)
				}
				i++
			}
		})
	}
}
