package query

import (
	"encoding/binary"
	"errors"
	"fmt"
	"time"

	"github.com/baybus/baybus/ledger/block"
	"github.com/baybus/baybus/schemas"
	"github.com/baybus/baybus/schemas/wire"
)

// The wire format. Every message starts with the format's version; a
// request then names its operation, a reply its outcome:
//
//	request: version (1) | op (1) | body
//	reply:   version (1) | code (1) | body (an error message unless code is OK)
//
// Bodies use the framing of schemas/wire (uvarint lengths, big-endian
// integers). A decoder refuses another version, an unknown op or code,
// anything over its limits and trailing bytes.

// Version is the wire format's version.
const Version = 1

// Operations.
const (
	opStatus   byte = 1  // the node's name, height, sealed sequence, readiness and head
	opLookup   byte = 2  // where transactions were sealed
	opWait     byte = 3  // the same, held until one is sealed or the wait ends
	opProof    byte = 4  // a fresh license proof
	opHeaders  byte = 5  // sealed headers in a range
	opBlock    byte = 6  // a block's transactions and results, a page at a time
	opTx       byte = 7  // a transaction's canonical content with its evidence
	opHistory  byte = 8  // a license's versions, newest first
	opLicenses byte = 9  // licenses by city, holder, status and kind, by key
	opConfig   byte = 10 // submit a configuration transaction (schemas/config)
)

// Reply codes.
const (
	codeOK          byte = 0
	codeNotFound    byte = 1 // no such transaction, license or block
	codeBadRequest  byte = 2 // the request is malformed or over a limit
	codeUnavailable byte = 3 // the node cannot answer now (stopping, no catalogue)
	codeInternal    byte = 4 // the node failed answering
	maxCode              = codeInternal
)

// Limits. Every reply fits a NATS message under the bus's 1 MiB
// max_payload; pages are cut to fit.
const (
	MaxIDs         = 4096 // transaction ids per Lookup or Wait
	MaxWait        = time.Minute
	MaxHeaders     = 256       // headers per Headers reply
	MaxPageTxs     = 256       // transactions per Block page
	MaxHistory     = 256       // versions per History reply
	MaxLicenses    = 1000      // licenses per Licenses reply
	maxReplyBytes  = 960 << 10 // what a page may fill
	maxKeyBytes    = 512
	maxStringBytes = 1 << 12
	maxSealedBytes = 1 << 20
	maxPath        = 64
	// MaxConfigBytes bounds a configuration transaction submitted.
	MaxConfigBytes = 512 << 10
)

// Errors of the wire format.
var (
	// ErrFormat is a message that does not decode.
	ErrFormat = errors.New("query: malformed message")
	// ErrVersion is a message of another version of the format.
	ErrVersion = fmt.Errorf("%w: unknown version", ErrFormat)
)

// request is one decoded request; which fields an op uses is in
// encodeRequest.
type request struct {
	op     byte
	ids    []schemas.TxID // Lookup, Wait; Tx (one)
	wait   time.Duration  // Wait
	key    string         // Proof, History
	height uint64         // Headers (from), Block, History (before; 0 = latest)
	from   uint32         // Block: first position
	limit  uint32         // Headers, Block, History, Licenses
	filter LicenseFilter  // Licenses (its Limit is limit)
	config []byte         // Config: the canonical transaction
}

func encodeRequest(q *request) []byte {
	b := []byte{Version, q.op}
	switch q.op {
	case opStatus:
	case opLookup, opWait, opTx:
		if q.op == opWait {
			b = binary.BigEndian.AppendUint32(b, uint32(q.wait/time.Millisecond))
		}
		b = binary.AppendUvarint(b, uint64(len(q.ids)))
		for _, id := range q.ids {
			b = append(b, id[:]...)
		}
	case opProof:
		b = wire.AppendString(b, q.key)
	case opConfig:
		b = wire.AppendBytes(b, q.config)
	case opHeaders:
		b = binary.BigEndian.AppendUint64(b, q.height)
		b = binary.BigEndian.AppendUint32(b, q.limit)
	case opBlock:
		b = binary.BigEndian.AppendUint64(b, q.height)
		b = binary.BigEndian.AppendUint32(b, q.from)
		b = binary.BigEndian.AppendUint32(b, q.limit)
	case opHistory:
		b = wire.AppendString(b, q.key)
		b = binary.BigEndian.AppendUint64(b, q.height)
		b = binary.BigEndian.AppendUint32(b, q.limit)
	case opLicenses:
		f := q.filter
		b = wire.AppendString(b, f.City)
		b = wire.AppendString(b, f.Holder)
		b = wire.AppendString(b, string(f.Status))
		b = wire.AppendString(b, string(f.Kind))
		b = wire.AppendString(b, f.Jurisdiction)
		b = wire.AppendString(b, f.Cursor)
		b = binary.BigEndian.AppendUint32(b, q.limit)
	}
	return b
}

func decodeRequest(p []byte) (*request, error) {
	r := wire.NewReader(p)
	if v := r.U8(); r.Err() == nil && v != Version {
		return nil, fmt.Errorf("%w %d", ErrVersion, v)
	}
	q := &request{op: r.U8()}
	if r.Err() != nil {
		return nil, fmt.Errorf("%w: %w", ErrFormat, r.Err())
	}
	switch q.op {
	case opStatus:
	case opLookup, opWait, opTx:
		if q.op == opWait {
			q.wait = time.Duration(r.U32()) * time.Millisecond
			if q.wait > MaxWait {
				return nil, fmt.Errorf("%w: wait %v over %v", ErrFormat, q.wait, MaxWait)
			}
		}
		limit := uint64(MaxIDs)
		if q.op == opTx {
			limit = 1
		}
		n := r.Count(limit)
		for i := 0; i < n && r.Err() == nil; i++ {
			q.ids = append(q.ids, readHash(r))
		}
		if r.Err() == nil && (n == 0) {
			return nil, fmt.Errorf("%w: no transaction id", ErrFormat)
		}
	case opProof:
		q.key = r.String(maxKeyBytes)
	case opConfig:
		q.config = r.Bytes(MaxConfigBytes)
	case opHeaders:
		q.height, q.limit = r.U64(), r.U32()
	case opBlock:
		q.height, q.from, q.limit = r.U64(), r.U32(), r.U32()
	case opHistory:
		q.key = r.String(maxKeyBytes)
		q.height, q.limit = r.U64(), r.U32()
	case opLicenses:
		f := &q.filter
		f.City = r.String(maxStringBytes)
		f.Holder = r.String(maxStringBytes)
		f.Status = schemas.Status(r.String(maxStringBytes))
		f.Kind = schemas.Kind(r.String(maxStringBytes))
		f.Jurisdiction = r.String(maxStringBytes)
		f.Cursor = r.String(maxKeyBytes * 2)
		q.limit = r.U32()
	default:
		return nil, fmt.Errorf("%w: unknown op %d", ErrFormat, q.op)
	}
	if r.Err() != nil {
		return nil, fmt.Errorf("%w: %w", ErrFormat, r.Err())
	}
	if r.Len() != 0 {
		return nil, fmt.Errorf("%w: %d trailing bytes", ErrFormat, r.Len())
	}
	return q, nil
}

// reply starts a reply with code OK; errorReply is a whole error reply.
func reply() []byte { return []byte{Version, codeOK} }

func errorReply(code byte, msg string) []byte {
	if len(msg) > maxStringBytes {
		msg = msg[:maxStringBytes]
	}
	return wire.AppendString([]byte{Version, code}, msg)
}

// decodeReply checks the version and code, and returns the body of an OK
// reply or a *ReplyError for any other code.
func decodeReply(p []byte) (*wire.Reader, error) {
	r := wire.NewReader(p)
	v, code := r.U8(), r.U8()
	switch {
	case r.Err() != nil:
		return nil, fmt.Errorf("%w: %w", ErrFormat, r.Err())
	case v != Version:
		return nil, fmt.Errorf("%w %d", ErrVersion, v)
	case code > maxCode:
		return nil, fmt.Errorf("%w: unknown code %d", ErrFormat, code)
	case code != codeOK:
		msg := r.String(maxStringBytes)
		if r.Err() != nil || r.Len() != 0 {
			return nil, fmt.Errorf("%w: error reply", ErrFormat)
		}
		return nil, &ReplyError{Code: code, Message: msg}
	}
	return r, nil
}

// finish checks that a reply body was read whole.
func finish(r *wire.Reader) error {
	if r.Err() != nil {
		return fmt.Errorf("%w: %w", ErrFormat, r.Err())
	}
	if r.Len() != 0 {
		return fmt.Errorf("%w: %d trailing bytes", ErrFormat, r.Len())
	}
	return nil
}

// ---- Status ----

// status is the Status reply.
type status struct {
	name      string
	height    uint64
	sealedSeq uint64
	ready     bool
	head      []byte // block.EncodeSealed of the head, empty at height 0
}

func encodeStatus(s *status) []byte {
	b := wire.AppendString(reply(), s.name)
	b = binary.BigEndian.AppendUint64(b, s.height)
	b = binary.BigEndian.AppendUint64(b, s.sealedSeq)
	b = append(b, boolByte(s.ready))
	return wire.AppendBytes(b, s.head)
}

func decodeStatus(p []byte) (*status, error) {
	r, err := decodeReply(p)
	if err != nil {
		return nil, err
	}
	s := &status{name: r.String(maxStringBytes), height: r.U64(), sealedSeq: r.U64()}
	s.ready = readBool(r)
	s.head = r.Bytes(maxSealedBytes)
	return s, finish(r)
}

// ---- Lookup and Wait ----

// entry is one transaction's answer in a Lookup or Wait reply.
type entry struct {
	found    bool
	height   uint64
	position uint32
	leaf     int32 // -1 unless the result is OK
	result   block.Result
	path     []schemas.TxID // OK: the path under the header's TxRoot
}

// sealed is a header with its certificate (block.EncodeSealed) and, when
// an entry refers to it with a result other than OK, the block's results,
// which the header's ResultsHash covers.
type sealed struct {
	raw     []byte
	results []byte
}

type located struct {
	entries []entry
	headers []sealed
}

func appendPath(b []byte, path []schemas.TxID) []byte {
	b = binary.AppendUvarint(b, uint64(len(path)))
	for _, h := range path {
		b = append(b, h[:]...)
	}
	return b
}

func readPath(r *wire.Reader) []schemas.TxID {
	n := r.Count(maxPath)
	var out []schemas.TxID
	for i := 0; i < n && r.Err() == nil; i++ {
		out = append(out, readHash(r))
	}
	return out
}

func appendEntry(b []byte, e *entry) []byte {
	b = append(b, boolByte(e.found))
	if !e.found {
		return b
	}
	b = binary.BigEndian.AppendUint64(b, e.height)
	b = binary.BigEndian.AppendUint32(b, e.position)
	b = binary.BigEndian.AppendUint32(b, uint32(e.leaf))
	b = append(b, byte(e.result))
	return appendPath(b, e.path)
}

func readEntry(r *wire.Reader) entry {
	var e entry
	if e.found = readBool(r); !e.found {
		return e
	}
	e.height, e.position, e.leaf = r.U64(), r.U32(), int32(r.U32())
	e.result = block.Result(r.U8())
	if r.Err() == nil && !e.result.Known() {
		r.Fail(fmt.Errorf("result %d", e.result))
	}
	e.path = readPath(r)
	return e
}

func appendSealed(b []byte, s []sealed) []byte {
	b = binary.AppendUvarint(b, uint64(len(s)))
	for _, h := range s {
		b = wire.AppendBytes(b, h.raw)
		b = wire.AppendBytes(b, h.results)
	}
	return b
}

func readSealed(r *wire.Reader, limit uint64) []sealed {
	n := r.Count(limit)
	var out []sealed
	for i := 0; i < n && r.Err() == nil; i++ {
		out = append(out, sealed{raw: r.Bytes(maxSealedBytes), results: r.Bytes(1 << 20)})
	}
	return out
}

func encodeLocated(l *located) []byte {
	b := binary.AppendUvarint(reply(), uint64(len(l.entries)))
	for i := range l.entries {
		b = appendEntry(b, &l.entries[i])
	}
	return appendSealed(b, l.headers)
}

func decodeLocated(p []byte) (*located, error) {
	r, err := decodeReply(p)
	if err != nil {
		return nil, err
	}
	l := &located{}
	n := r.Count(MaxIDs)
	for i := 0; i < n && r.Err() == nil; i++ {
		l.entries = append(l.entries, readEntry(r))
	}
	l.headers = readSealed(r, MaxIDs)
	return l, finish(r)
}

// ---- Proof ----

func encodeProof(bundle []byte) []byte { return wire.AppendBytes(reply(), bundle) }

func decodeProof(p []byte) ([]byte, error) {
	r, err := decodeReply(p)
	if err != nil {
		return nil, err
	}
	b := r.Bytes(1 << 20)
	return b, finish(r)
}

// decodeEmpty reads an OK reply with no body.
func decodeEmpty(p []byte) error {
	r, err := decodeReply(p)
	if err != nil {
		return err
	}
	return finish(r)
}

// ---- Headers ----

func encodeHeaders(raws [][]byte) []byte {
	b := binary.AppendUvarint(reply(), uint64(len(raws)))
	for _, raw := range raws {
		b = wire.AppendBytes(b, raw)
	}
	return b
}

func decodeHeaders(p []byte) ([][]byte, error) {
	r, err := decodeReply(p)
	if err != nil {
		return nil, err
	}
	n := r.Count(MaxHeaders)
	var out [][]byte
	for i := 0; i < n && r.Err() == nil; i++ {
		out = append(out, r.Bytes(maxSealedBytes))
	}
	return out, finish(r)
}

// ---- Block ----

// batchInfo is what a page says of a batch its transactions come from.
type batchInfo struct {
	index     uint32
	city      string
	createdAt int64
	seq       uint64
	count     uint32
	root      schemas.TxID
	keyID     string
	signature []byte
}

func appendBatchInfo(b []byte, bi *batchInfo) []byte {
	b = binary.BigEndian.AppendUint32(b, bi.index)
	b = wire.AppendString(b, bi.city)
	b = binary.BigEndian.AppendUint64(b, uint64(bi.createdAt))
	b = binary.BigEndian.AppendUint64(b, bi.seq)
	b = binary.BigEndian.AppendUint32(b, bi.count)
	b = append(b, bi.root[:]...)
	b = wire.AppendString(b, bi.keyID)
	return wire.AppendBytes(b, bi.signature)
}

func readBatchInfo(r *wire.Reader) batchInfo {
	bi := batchInfo{index: r.U32(), city: r.String(64), createdAt: int64(r.U64()), seq: r.U64(), count: r.U32()}
	bi.root = readHash(r)
	bi.keyID = r.String(256)
	bi.signature = r.Bytes(1 << 16)
	return bi
}

// pageTx is one transaction of a Block page.
type pageTx struct {
	position uint32
	batch    uint32
	inBatch  uint32
	leaf     int32
	result   block.Result
	bytes    []byte
	path     []schemas.TxID // OK: under TxRoot
}

type page struct {
	header  sealed // with the results, always
	total   uint32 // transactions in the block
	batches []batchInfo
	txs     []pageTx
}

func encodePage(pg *page) []byte {
	b := appendSealed(reply(), []sealed{pg.header})
	b = binary.BigEndian.AppendUint32(b, pg.total)
	b = binary.AppendUvarint(b, uint64(len(pg.batches)))
	for i := range pg.batches {
		b = appendBatchInfo(b, &pg.batches[i])
	}
	b = binary.AppendUvarint(b, uint64(len(pg.txs)))
	for _, t := range pg.txs {
		b = binary.BigEndian.AppendUint32(b, t.position)
		b = binary.BigEndian.AppendUint32(b, t.batch)
		b = binary.BigEndian.AppendUint32(b, t.inBatch)
		b = binary.BigEndian.AppendUint32(b, uint32(t.leaf))
		b = append(b, byte(t.result))
		b = wire.AppendBytes(b, t.bytes)
		b = appendPath(b, t.path)
	}
	return b
}

func decodePage(p []byte) (*page, error) {
	r, err := decodeReply(p)
	if err != nil {
		return nil, err
	}
	pg := &page{}
	hs := readSealed(r, 1)
	if r.Err() == nil && len(hs) != 1 {
		return nil, fmt.Errorf("%w: a block page without its header", ErrFormat)
	}
	if len(hs) == 1 {
		pg.header = hs[0]
	}
	pg.total = r.U32()
	n := r.Count(MaxPageTxs)
	for i := 0; i < n && r.Err() == nil; i++ {
		pg.batches = append(pg.batches, readBatchInfo(r))
	}
	n = r.Count(MaxPageTxs)
	for i := 0; i < n && r.Err() == nil; i++ {
		t := pageTx{position: r.U32(), batch: r.U32(), inBatch: r.U32(), leaf: int32(r.U32()), result: block.Result(r.U8())}
		t.bytes = r.Bytes(schemas.MaxTxBytes)
		t.path = readPath(r)
		pg.txs = append(pg.txs, t)
	}
	return pg, finish(r)
}

// ---- Tx ----

// txReply is a transaction with what proves it: where it was sealed, its
// header (and the results when it took no effect), and its batch's signed
// header with its path there.
type txReply struct {
	entry     entry
	header    sealed
	bytes     []byte
	batch     batchInfo
	inBatch   uint32
	batchPath []schemas.TxID
}

func encodeTx(t *txReply) []byte {
	b := appendEntry(reply(), &t.entry)
	b = appendSealed(b, []sealed{t.header})
	b = wire.AppendBytes(b, t.bytes)
	b = appendBatchInfo(b, &t.batch)
	b = binary.BigEndian.AppendUint32(b, t.inBatch)
	return appendPath(b, t.batchPath)
}

func decodeTx(p []byte) (*txReply, error) {
	r, err := decodeReply(p)
	if err != nil {
		return nil, err
	}
	t := &txReply{entry: readEntry(r)}
	if r.Err() == nil && !t.entry.found {
		return nil, fmt.Errorf("%w: a transaction reply without its location", ErrFormat)
	}
	hs := readSealed(r, 1)
	if r.Err() == nil && len(hs) != 1 {
		return nil, fmt.Errorf("%w: a transaction reply without its header", ErrFormat)
	}
	if len(hs) == 1 {
		t.header = hs[0]
	}
	t.bytes = r.Bytes(schemas.MaxTxBytes)
	t.batch = readBatchInfo(r)
	t.inBatch = r.U32()
	t.batchPath = readPath(r)
	return t, finish(r)
}

// ---- History ----

func encodeHistory(vs []LicenseVersion) []byte {
	b := binary.AppendUvarint(reply(), uint64(len(vs)))
	for _, v := range vs {
		b = binary.BigEndian.AppendUint64(b, v.Height)
		b = wire.AppendString(b, string(v.Status))
		b = append(b, v.RecordHash[:]...)
		b = append(b, v.TxID[:]...)
	}
	return b
}

func decodeHistory(p []byte) ([]LicenseVersion, error) {
	r, err := decodeReply(p)
	if err != nil {
		return nil, err
	}
	n := r.Count(MaxHistory)
	var out []LicenseVersion
	for i := 0; i < n && r.Err() == nil; i++ {
		v := LicenseVersion{Height: r.U64(), Status: schemas.Status(r.String(64))}
		v.RecordHash = readHash(r)
		v.TxID = readHash(r)
		out = append(out, v)
	}
	return out, finish(r)
}

// ---- Licenses ----

func encodeLicenses(ls []LicenseEntry, next string) []byte {
	b := binary.AppendUvarint(reply(), uint64(len(ls)))
	for _, l := range ls {
		b = appendLicense(b, &l)
	}
	return wire.AppendString(b, next)
}

func appendLicense(b []byte, l *LicenseEntry) []byte {
	b = wire.AppendString(b, l.Key)
	b = wire.AppendString(b, l.City)
	b = wire.AppendString(b, string(l.Kind))
	b = wire.AppendString(b, l.Holder)
	b = wire.AppendString(b, l.Name)
	b = wire.AppendString(b, string(l.Status))
	b = binary.BigEndian.AppendUint64(b, l.Height)
	return append(b, l.LastTx[:]...)
}

func readLicense(r *wire.Reader) LicenseEntry {
	l := LicenseEntry{Key: r.String(maxKeyBytes), City: r.String(64), Kind: schemas.Kind(r.String(64)), Holder: r.String(maxStringBytes),
		Name: r.String(maxStringBytes), Status: schemas.Status(r.String(64)), Height: r.U64()}
	l.LastTx = readHash(r)
	return l
}

func decodeLicenses(p []byte) ([]LicenseEntry, string, error) {
	r, err := decodeReply(p)
	if err != nil {
		return nil, "", err
	}
	n := r.Count(MaxLicenses)
	var out []LicenseEntry
	for i := 0; i < n && r.Err() == nil; i++ {
		out = append(out, readLicense(r))
	}
	next := r.String(maxKeyBytes * 2)
	return out, next, finish(r)
}

func boolByte(v bool) byte {
	if v {
		return 1
	}
	return 0
}

func readBool(r *wire.Reader) bool {
	switch v := r.U8(); v {
	case 0:
		return false
	case 1:
		return true
	default:
		r.Fail(fmt.Errorf("bool %d", v))
		return false
	}
}

// readHash reads 32 bytes (zero after an error: Take then returns nil).
func readHash(r *wire.Reader) (h schemas.TxID) {
	copy(h[:], r.Take(32))
	return h
}
