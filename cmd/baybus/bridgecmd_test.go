package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/spf13/cobra"

	"github.com/baybus/baybus/bridge"
	"github.com/baybus/baybus/schemas"
)

// runCmd executes a command built by a constructor and returns its stdout,
// stderr and exit code (0 for no error, 2 for an error without a code).
// Every command test of this package runs commands through it.
func runCmd(t *testing.T, cmd *cobra.Command, stdin string, args ...string) (string, string, int) {
	t.Helper()
	var out, errOut bytes.Buffer
	cmd.SetArgs(args)
	cmd.SetIn(strings.NewReader(stdin))
	cmd.SetOut(&out)
	cmd.SetErr(&errOut)
	cmd.SetContext(context.Background())
	err := cmd.Execute()
	code := 0
	if err != nil {
		code = 2
		var coded interface{ ExitCode() int }
		if errors.As(err, &coded) {
			code = coded.ExitCode()
		}
		errOut.WriteString(err.Error())
	}
	return out.String(), errOut.String(), code
}

func outLines(s string) []string { return strings.Split(strings.TrimSuffix(s, "\n"), "\n") }

func TestIDCheckCmd(t *testing.T) {
	out, _, code := runCmd(t, newIDCmd(), "", "check", "--kind", "uscc", "91440300MA5F0000X1", "91440300MA5F0000X2", "91440300MA5I0000X1")
	if code != 1 {
		t.Errorf("exit %d, want 1", code)
	}
	want := []string{
		"91440300MA5F0000X1: valid",
		"91440300MA5F0000X2: invalid (uscc-check): ",
		"91440300MA5I0000X1: invalid (uscc-charset): ",
	}
	got := outLines(out)
	if len(got) != len(want) {
		t.Fatalf("output:\n%s", out)
	}
	for i := range want {
		if !strings.HasPrefix(got[i], want[i]) {
			t.Errorf("line %d = %q, want prefix %q", i, got[i], want[i])
		}
	}

	for _, tc := range []struct {
		kind, value, want string
	}{
		{"cn-rid", "11010519491231002X", "11010519491231002X: valid"},
		{"hkid", "A123456(3)", "A123456(3): valid"},
		{"hk-brn", "12345678", "12345678: valid (format only: no public check algorithm)"},
		{"mo-bir", "1234567(8)", "1234567(8): valid (format only: no public check algorithm)"},
		{"elicense", "1.2.156.3005.2.11100000000013338W050.11440300MB2C55479U.2024000123.001.W", "1.2.156.3005.2.11100000000013338W050.11440300MB2C55479U.2024000123.001.W: valid"},
	} {
		out, _, code := runCmd(t, newIDCmd(), "", "check", "--kind", tc.kind, tc.value)
		if code != 0 || strings.TrimSpace(out) != tc.want {
			t.Errorf("id check --kind %s %s = %q, exit %d; want %q", tc.kind, tc.value, out, code, tc.want)
		}
	}
	if _, _, code := runCmd(t, newIDCmd(), "", "check", "--kind", "ssn", "1"); code != 2 {
		t.Errorf("unknown kind: exit %d, want 2", code)
	}
	if _, _, code := runCmd(t, newIDCmd(), "", "check", "--kind", "uscc"); code != 2 {
		t.Errorf("no values: exit %d, want 2", code)
	}
}

func TestSampleCmd(t *testing.T) {
	out, _, code := runCmd(t, newSampleCmd(), "", "--city", "macao", "--kind", "business", "--n", "5", "--seed", "7")
	if code != 0 {
		t.Fatalf("exit %d", code)
	}
	got := outLines(out)
	if len(got) != 5 {
		t.Fatalf("%d lines:\n%s", len(got), out)
	}
	for _, l := range got {
		ev, format, err := bridge.For(schemas.MO).Normalize([]byte(l))
		if err != nil || format != "mo/business_registration@1" || !strings.HasPrefix(ev.EventID, "macao-business-7-") {
			t.Fatalf("sample line %s: %v %s %v", l, ev, format, err)
		}
	}
	again, _, _ := runCmd(t, newSampleCmd(), "", "--city", "macao", "--kind", "business", "--n", "5", "--seed", "7")
	if again != out {
		t.Error("same seed, different output")
	}
	for _, args := range [][]string{
		{"--city", "taipei"},
		{"--city", "shenzhen", "--kind", "permit"},
		{"--city", "shenzhen", "--n", "-1"},
		{},
	} {
		if _, _, code := runCmd(t, newSampleCmd(), "", args...); code != 2 {
			t.Errorf("sample %v: exit %d, want 2", args, code)
		}
	}
}

func TestBridgeConvertCmd(t *testing.T) {
	native, _, code := runCmd(t, newSampleCmd(), "", "--city", "shenzhen", "--n", "12", "--seed", "3")
	if code != 0 {
		t.Fatal("sample failed")
	}
	// CN native -> canonical -> CN native gives back the input.
	canonical, errOut, code := runCmd(t, newBridgeCmd(), native, "convert", "--from", "cn", "--to", "canonical")
	if code != 0 {
		t.Fatalf("cn -> canonical: exit %d: %s", code, errOut)
	}
	back, errOut, code := runCmd(t, newBridgeCmd(), canonical, "convert", "--from", "canonical", "--to", "cn")
	if code != 0 || back != native {
		t.Fatalf("canonical -> cn: exit %d: %s\ngot:\n%s\nwant:\n%s", code, errOut, back, native)
	}
	// The same events as a JSON array, shown in Hong Kong's native shape.
	arr := "[" + strings.Join(outLines(native), ",") + "]"
	hk, errOut, code := runCmd(t, newBridgeCmd(), arr, "convert", "--from", "cn", "--to", "hk")
	if code != 0 || len(outLines(hk)) != 12 {
		t.Fatalf("cn -> hk: exit %d: %s\n%s", code, errOut, hk)
	}
	var first map[string]any
	if err := json.Unmarshal([]byte(outLines(hk)[0]), &first); err != nil || !strings.HasPrefix(first["format"].(string), "hk/") {
		t.Errorf("hk view: %v %v", first, err)
	}
	// A transaction is accepted as canonical input.
	city, _ := schemas.LookupCity("shenzhen")
	tx, err := bridge.ToTx("gba", city, []byte(outLines(native)[0]))
	if err != nil {
		t.Fatal(err)
	}
	txJSON, _ := json.Marshal(tx)
	out, errOut, code := runCmd(t, newBridgeCmd(), string(txJSON), "convert", "--from", "canonical", "--to", "cn")
	if code != 0 || strings.TrimSpace(out) != outLines(native)[0] {
		t.Errorf("tx -> cn: exit %d: %s\n%s", code, errOut, out)
	}

	// A bad event is reported with its position and left out; exit 1.
	bad := strings.Replace(outLines(native)[1], `"format":"cn/`, `"format":"xx/`, 1)
	in := outLines(native)[0] + "\n" + bad + "\n" + outLines(native)[2] + "\n"
	out, errOut, code = runCmd(t, newBridgeCmd(), in, "convert", "--from", "cn", "--to", "canonical")
	if code != 1 || len(outLines(out)) != 2 || !strings.Contains(errOut, "event 2: ") || !strings.Contains(errOut, "format") {
		t.Errorf("bad event: exit %d, %d lines, stderr %q", code, len(outLines(out)), errOut)
	}

	for _, tc := range []struct {
		in   string
		args []string
	}{
		{native, []string{"convert", "--from", "tw", "--to", "canonical"}},
		{native, []string{"convert", "--from", "CN", "--to", "canonical"}},
		{native, []string{"convert", "--from", "cn"}},
		{"", []string{"convert", "--from", "cn", "--to", "hk"}},
		{"{not json", []string{"convert", "--from", "cn", "--to", "hk"}},
	} {
		if _, _, code := runCmd(t, newBridgeCmd(), tc.in, tc.args...); code != 2 {
			t.Errorf("convert %v: exit %d, want 2", tc.args, code)
		}
	}
}
