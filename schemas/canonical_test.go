package schemas

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime/debug"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
	"unicode/utf16"
	"unicode/utf8"
)

var (
	canonUpdate = flag.Bool("update", false, "rewrite the golden vectors in testdata/canonical")
	canonSeed   = flag.Uint64("canon.seed", 0, "seed of TestCanonicalDifferential (0: from the clock)")
)

// ---------------------------------------------------------------------------
// Reference implementation: the original encoding/json based canonicalizer,
// kept verbatim (renamed) as the oracle for the differential tests.
//
// It is looser than CanonicalizeJSON in exactly three ways, all deliberate
// tightenings of the rewrite: encoding/json turns invalid UTF-8 and lone
// surrogate escapes into U+FFFD instead of refusing them, it ignores trailing
// bytes after the value when they are not a valid token, and it has no
// nesting limit of its own short of encoding/json's 10000.
// ---------------------------------------------------------------------------

func refCanonicalizeJSON(raw []byte) ([]byte, error) {
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var buf bytes.Buffer
	buf.Grow(len(raw))
	if err := refCanonValue(dec, &buf); err != nil {
		return nil, err
	}
	if _, err := dec.Token(); err == nil {
		return nil, fmt.Errorf("%w: trailing data after JSON value", ErrBadValue)
	}
	return buf.Bytes(), nil
}

func refCanonValue(dec *json.Decoder, buf *bytes.Buffer) error {
	tok, err := dec.Token()
	if err != nil {
		return fmt.Errorf("%w: %v", ErrBadValue, err)
	}
	switch t := tok.(type) {
	case json.Delim:
		switch t {
		case '{':
			return refCanonObject(dec, buf)
		case '[':
			buf.WriteByte('[')
			for i := 0; dec.More(); i++ {
				if i > 0 {
					buf.WriteByte(',')
				}
				if err := refCanonValue(dec, buf); err != nil {
					return err
				}
			}
			if _, err := dec.Token(); err != nil { // ']'
				return fmt.Errorf("%w: %v", ErrBadValue, err)
			}
			buf.WriteByte(']')
			return nil
		}
		return fmt.Errorf("%w: unexpected %v", ErrBadValue, t)
	case string:
		return refWriteString(buf, t)
	case json.Number:
		n, err := strconv.ParseInt(string(t), 10, 64)
		if err != nil || n > maxSafeInt || n < -maxSafeInt {
			return fmt.Errorf("%w: number %s is not an integer in ±(2^53-1); write amounts as decimal strings", ErrBadValue, t)
		}
		buf.WriteString(strconv.FormatInt(n, 10))
		return nil
	case bool:
		buf.WriteString(strconv.FormatBool(t))
		return nil
	case nil:
		buf.WriteString("null")
		return nil
	}
	return fmt.Errorf("%w: unexpected token %v", ErrBadValue, tok)
}

type refMember struct {
	key   string
	units []uint16
	value []byte
}

func refCanonObject(dec *json.Decoder, buf *bytes.Buffer) error {
	var members []refMember
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return fmt.Errorf("%w: %v", ErrBadValue, err)
		}
		key, ok := tok.(string)
		if !ok {
			return fmt.Errorf("%w: object key %v", ErrBadValue, tok)
		}
		if !utf8.ValidString(key) {
			return fmt.Errorf("%w: key is not valid UTF-8", ErrBadValue)
		}
		var vb bytes.Buffer
		if err := refCanonValue(dec, &vb); err != nil {
			return err
		}
		members = append(members, refMember{key: key, units: utf16.Encode([]rune(key)), value: vb.Bytes()})
	}
	if _, err := dec.Token(); err != nil { // '}'
		return fmt.Errorf("%w: %v", ErrBadValue, err)
	}
	slices.SortFunc(members, func(a, b refMember) int { return slices.Compare(a.units, b.units) })
	buf.WriteByte('{')
	for i, m := range members {
		if i > 0 {
			if m.key == members[i-1].key {
				return fmt.Errorf("%w: duplicate key %q", ErrBadValue, m.key)
			}
			buf.WriteByte(',')
		}
		_ = refWriteString(buf, m.key)
		buf.WriteByte(':')
		buf.Write(m.value)
	}
	buf.WriteByte('}')
	return nil
}

func refWriteString(buf *bytes.Buffer, s string) error {
	if !utf8.ValidString(s) {
		return fmt.Errorf("%w: string is not valid UTF-8", ErrBadValue)
	}
	buf.WriteByte('"')
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '"':
			buf.WriteString(`\"`)
		case c == '\\':
			buf.WriteString(`\\`)
		case c == '\b':
			buf.WriteString(`\b`)
		case c == '\f':
			buf.WriteString(`\f`)
		case c == '\n':
			buf.WriteString(`\n`)
		case c == '\r':
			buf.WriteString(`\r`)
		case c == '\t':
			buf.WriteString(`\t`)
		case c < 0x20:
			buf.WriteString(`\u00`)
			buf.WriteByte(hexDigits[c>>4])
			buf.WriteByte(hexDigits[c&0xf])
		default:
			buf.WriteByte(c)
		}
	}
	buf.WriteByte('"')
	return nil
}

// refLooser reports whether in (valid JSON by json.Valid) is one the
// reference accepts only because it is looser than the specification:
// invalid UTF-8, a lone surrogate escape, or nesting deeper than maxDepth.
func refLooser(in []byte) bool {
	if !utf8.Valid(in) {
		return true
	}
	depth, maxSeen := 0, 0
	inString := false
	for i := 0; i < len(in); i++ {
		c := in[i]
		if !inString {
			switch c {
			case '"':
				inString = true
			case '[', '{':
				depth++
				maxSeen = max(maxSeen, depth)
			case ']', '}':
				depth--
			}
			continue
		}
		switch c {
		case '"':
			inString = false
		case '\\':
			if in[i+1] != 'u' {
				i++
				continue
			}
			u, _ := strconv.ParseUint(string(in[i+2:i+6]), 16, 16)
			i += 5
			switch {
			case u >= 0xDC00 && u < 0xE000:
				return true
			case u >= 0xD800 && u < 0xDC00:
				if i+6 >= len(in) || in[i+1] != '\\' || in[i+2] != 'u' {
					return true
				}
				lo, _ := strconv.ParseUint(string(in[i+3:i+7]), 16, 16)
				if lo < 0xDC00 || lo >= 0xE000 {
					return true
				}
				i += 6
			}
		}
	}
	return maxSeen > maxDepth
}

// ---------------------------------------------------------------------------
// A ~1 KiB transaction like the ones the orderers decode.
// ---------------------------------------------------------------------------

func sampleTx() *Tx {
	return &Tx{
		V: TxVersion, Chain: "gba", City: "shenzhen", Jurisdiction: CN,
		EventID: "szamr-2026-01-02-000123456", Kind: KindBusiness, Action: ActionIssue,
		OccurredAt: "2026-01-02T03:04:05Z",
		Record: Record{
			ID: "91440300MA5G8XQ21K",
			Name: Text{
				LangHans: "深圳市前海湾区链信科技有限公司",
				LangEN:   "Shenzhen Qianhai Bay Area Chain Trust Technology Co., Ltd.",
			},
			People: []Party{{
				Name:   Text{LangHans: "陈晓明"},
				IDKind: "cn-rid", IDNumber: "44030519800101123X",
				Role: Text{LangHans: "法定代表人", LangEN: "legal representative"},
			}},
			EntityType:    Text{LangHans: "有限责任公司（自然人投资或控股）"},
			Capital:       &Money{Amount: "10000000.00", Currency: "CNY"},
			EstablishedOn: "2019-03-15",
			Address:       Text{LangHans: "深圳市前海深港合作区南山街道桂湾五路128号前海深港基金小镇B7栋201室"},
			Scope:         Text{LangHans: "一般经营项目是：区块链技术开发；信息技术咨询服务；软件开发；数据处理和存储支持服务。许可经营项目是：<无> & 第二类增值电信业务。"},
			Authority:     Text{LangHans: "深圳市市场监督管理局前海分局"},
			IssuedOn:      "2026-01-02",
			Validity:      &Period{From: "2019-03-15"},
		},
	}
}

// sampleTxBytes returns the sample transaction as encoding/json writes it
// (struct order, HTML escapes) and in canonical form.
func sampleTxBytes(tb testing.TB) (marshalled, canonical []byte) {
	tb.Helper()
	m, err := json.Marshal(sampleTx())
	if err != nil {
		tb.Fatal(err)
	}
	c, err := refCanonicalizeJSON(m)
	if err != nil {
		tb.Fatal(err)
	}
	return m, c
}

// ---------------------------------------------------------------------------
// Golden vectors
// ---------------------------------------------------------------------------

type canonVector struct {
	Rule      string `json:"rule"`
	Input     string `json:"input"`
	Canonical string `json:"canonical"`
	SHA256    string `json:"sha256"`
}

func deepArrays(n int) string { return strings.Repeat("[", n) + strings.Repeat("]", n) }

func deepObjects(n int) string {
	return strings.Repeat(`{"a":`, n-1) + "{}" + strings.Repeat("}", n-1)
}

// canonGolden lists the golden vectors. want, when set, is the expected
// canonical output worked out by hand, so that -update cannot silently bless
// a wrong answer.
var canonGolden = []struct {
	name, rule, in, want string
}{
	{"keys_utf16", "keys sort by UTF-16 code units: a surrogate pair (U+1F600) sorts before U+E000 and U+FF21, though its code point is larger; upper case before lower case",
		`{"\uff21":7,"\ue000":6,"\ud83d\ude00":5,"\u20ac":4,"a":3,"B":2,"":1}`,
		"{\"\":1,\"B\":2,\"a\":3,\"\u20ac\":4,\"\U0001F600\":5,\"\ue000\":6,\"\uff21\":7}"},
	{"keys_rfc8785", "the key-sorting example of RFC 8785 section 3.2.3",
		`{"\u20ac":"Euro Sign","\r":"Carriage Return","\ufb33":"Hebrew Letter Dalet With Dagesh","1":"One","\ud83d\ude00":"Emoji: Grinning Face","\u0080":"Control","\u00f6":"Latin Small Letter O With Diaeresis"}`,
		"{\"\\r\":\"Carriage Return\",\"1\":\"One\",\"\u0080\":\"Control\",\"\u00f6\":\"Latin Small Letter O With Diaeresis\",\"\u20ac\":\"Euro Sign\",\"\U0001F600\":\"Emoji: Grinning Face\",\"\ufb33\":\"Hebrew Letter Dalet With Dagesh\"}"},
	{"keys_escaped", "keys compare by their decoded characters, not by their escaped spelling",
		`{"\\":5,"#":4,"\"":3,"\t":2,"\u0001":1,"\u0000":0}`,
		`{"\u0000":0,"\u0001":1,"\t":2,"\"":3,"#":4,"\\":5}`},
	{"keys_prefix", "a key sorts before the keys it is a prefix of",
		`{"abc":3,"ab":2,"a":1,"b":4,"\u4e2d\u6587":6,"\u4e2d":5}`,
		"{\"a\":1,\"ab\":2,\"abc\":3,\"b\":4,\"\u4e2d\":5,\"\u4e2d\u6587\":6}"},
	{"escapes", "only quote, backslash and control characters are escaped: \\b \\f \\n \\r \\t or \\u00xx in lower-case hex; \\/ and every other \\u escape are decoded to raw UTF-8",
		`["\"\\\/\b\f\n\r\t","\u0000\u0007\u000B\u001F\u001f","\u0008\u0009\u000A\u000C\u000D","\u007f\u0041\u00E9\u4E2D\u2028\u2029\ufeff\uFFFD","\uD83D\uDE00\ud800\udc00\udbff\udfff","\u0022\u005C\u002F"]`,
		"[\"\\\"\\\\/\\b\\f\\n\\r\\t\",\"\\u0000\\u0007\\u000b\\u001f\\u001f\",\"\\b\\t\\n\\f\\r\",\"\x7fA\u00e9\u4e2d\u2028\u2029\ufeff\ufffd\",\"\U0001F600\U00010000\U0010FFFF\",\"\\\"\\\\/\"]"},
	{"utf8_raw", "raw UTF-8 of every length passes through unchanged",
		"[\"aé中😀\",\"\u0080\u07ff\u0800\uffff\U00010000\U0010ffff\",\"粤港澳大湾区 營業執照 Região Administrativa Especial de Macau\"]",
		"[\"aé中😀\",\"\u0080\u07ff\u0800\uffff\U00010000\U0010ffff\",\"粤港澳大湾区 營業執照 Região Administrativa Especial de Macau\"]"},
	{"integers", "integers in ±(2^53-1) are written in shortest form; -0 becomes 0",
		`[0,-0,1,-1,10,-10,1234567890,9007199254740991,-9007199254740991,900719925474099,-1000000]`,
		`[0,0,1,-1,10,-10,1234567890,9007199254740991,-9007199254740991,900719925474099,-1000000]`},
	{"literals", "true, false and null",
		`[true,false,null,{"f":false,"n":null,"t":true}]`,
		`[true,false,null,{"f":false,"n":null,"t":true}]`},
	{"whitespace", "insignificant white space (space, tab, line feed, carriage return) is dropped",
		" \t\r\n{ \"b\" : [ 1 ,\n2 , [ ] , { } ] ,\r\n\t\"a\" :\"x y\" } \n",
		`{"a":"x y","b":[1,2,[],{}]}`},
	{"nested", "objects are sorted at every level; arrays keep their order",
		`{"z":{"y":[{"b":2,"a":1},{"d":[3,2,1],"c":{}}],"x":null},"m":[[[]],{}],"a":{"c":{"b":{"a":0}}}}`,
		`{"a":{"c":{"b":{"a":0}}},"m":[[[]],{}],"z":{"x":null,"y":[{"a":1,"b":2},{"c":{},"d":[3,2,1]}]}}`},
	{"empty", "empty containers and the empty string",
		`[{},[],"",{"":""}]`, `[{},[],"",{"":""}]`},
	{"scalar_string", "a top-level string", `"\u00e9t\u00e9"`, "\"\u00e9t\u00e9\""},
	{"scalar_number", "a top-level number", ` -42 `, `-42`},
	{"scalar_null", "a top-level null", `null`, `null`},
	{"depth_max", "nesting up to the limit of 64 levels is accepted", deepArrays(64), deepArrays(64)},
	{"tx_marshalled", "a transaction as encoding/json marshals it: struct field order, HTML escapes \\u003c \\u003e \\u0026", "", ""},
	{"tx_canonical", "a canonical transaction is its own canonical form", "", ""},
}

func goldenInput(tb testing.TB, name, in string) string {
	m, c := sampleTxBytes(tb)
	switch name {
	case "tx_marshalled":
		return string(m)
	case "tx_canonical":
		return string(c)
	}
	return in
}

func TestCanonicalGolden(t *testing.T) {
	dir := filepath.Join("testdata", "canonical")
	if *canonUpdate {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		for _, g := range canonGolden {
			in := goldenInput(t, g.name, g.in)
			out, err := CanonicalizeJSON([]byte(in))
			if err != nil {
				t.Fatalf("%s: %v", g.name, err)
			}
			sum := sha256.Sum256(out)
			v := canonVector{Rule: g.rule, Input: in, Canonical: string(out), SHA256: hex.EncodeToString(sum[:])}
			var buf bytes.Buffer
			enc := json.NewEncoder(&buf)
			enc.SetEscapeHTML(false)
			enc.SetIndent("", "  ")
			if err := enc.Encode(v); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(filepath.Join(dir, g.name+".json"), buf.Bytes(), 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}

	files, err := filepath.Glob(filepath.Join(dir, "*.json"))
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for _, f := range files {
		name := strings.TrimSuffix(filepath.Base(f), ".json")
		seen[name] = true
		t.Run(name, func(t *testing.T) {
			b, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			var v canonVector
			if err := json.Unmarshal(b, &v); err != nil {
				t.Fatal(err)
			}
			in, want := []byte(v.Input), []byte(v.Canonical)
			got, err := CanonicalizeJSON(in)
			if err != nil {
				t.Fatalf("CanonicalizeJSON: %v", err)
			}
			if !bytes.Equal(got, want) {
				t.Fatalf("CanonicalizeJSON(%q)\n got %q\nwant %q", in, got, want)
			}
			if sum := sha256.Sum256(got); hex.EncodeToString(sum[:]) != v.SHA256 {
				t.Fatalf("sha256 %x, golden %s", sum, v.SHA256)
			}
			if ref, err := refCanonicalizeJSON(in); err != nil || !bytes.Equal(ref, want) {
				t.Fatalf("reference: %q, %v", ref, err)
			}
			if !IsCanonical(want) {
				t.Fatalf("IsCanonical(canonical output) = false")
			}
			if IsCanonical(in) != bytes.Equal(in, want) {
				t.Fatalf("IsCanonical(input) = %v", IsCanonical(in))
			}
			for _, g := range canonGolden {
				if g.name == name && g.want != "" && g.want != v.Canonical {
					t.Fatalf("golden file disagrees with the hand-written answer\nfile %q\nhand %q", v.Canonical, g.want)
				}
			}
		})
	}
	for _, g := range canonGolden {
		if !seen[g.name] {
			t.Errorf("golden vector %s.json is missing; run go test ./schemas -run TestCanonicalGolden -update", g.name)
		}
	}
	if len(seen) != len(canonGolden) {
		t.Errorf("%d golden files, %d vectors in canonGolden", len(seen), len(canonGolden))
	}
}

// TestCanonicalHandAnswers checks the hand-written answers directly, without
// the golden files.
func TestCanonicalHandAnswers(t *testing.T) {
	for _, g := range canonGolden {
		if g.want == "" {
			continue
		}
		got, err := CanonicalizeJSON([]byte(g.in))
		if err != nil || string(got) != g.want {
			t.Errorf("%s: CanonicalizeJSON(%q)\n got %q, %v\nwant %q", g.name, g.in, got, err, g.want)
		}
	}
}

// TestCompareKeys checks the key order against utf16.Encode + slices.Compare
// on every pair of one- and two-character keys over characters at the edges
// of each UTF-8 length, escape form and UTF-16 range.
func TestCompareKeys(t *testing.T) {
	runes := []rune{0, 1, 8, 9, 0xa, 0xb, 0xc, 0xd, 0x1f, ' ', '!', '"', '#', '/', '0', 'A', '[', '\\', ']', 'a', 'u', 0x7f,
		0x80, 0xff, 0x7ff, 0x800, 0xfff, 0x1000, 0xd7ff, 0xe000, 0xefff, 0xf000, 0xfb33, 0xfffd, 0xffff,
		0x10000, 0x1f600, 0x3ffff, 0x40000, 0xfffff, 0x100000, 0x10ffff}
	type key struct {
		canon []byte // as written in canonical JSON, without quotes
		units []uint16
	}
	var keys []key
	add := func(rs ...rune) {
		var buf bytes.Buffer
		_ = refWriteString(&buf, string(rs))
		keys = append(keys, key{buf.Bytes()[1 : buf.Len()-1], utf16.Encode(rs)})
	}
	add()
	for _, a := range runes {
		add(a)
		for _, b := range runes {
			add(a, b)
		}
	}
	wrong := 0
	for _, a := range keys {
		for _, b := range keys {
			if got, want := compareKeys(a.canon, b.canon), slices.Compare(a.units, b.units); got != want {
				if wrong++; wrong <= 10 {
					t.Errorf("compareKeys(%q, %q) = %d, want %d", a.canon, b.canon, got, want)
				}
			}
		}
	}
}

// ---------------------------------------------------------------------------
// Errors
// ---------------------------------------------------------------------------

// canonErrors are inputs CanonicalizeJSON must refuse with ErrBadValue.
// looser marks those the encoding/json based reference wrongly accepted.
var canonErrors = []struct {
	name, in string
	looser   bool
}{
	{"fraction", `1.5`, false},
	{"fraction zero", `[1.0]`, false},
	{"fraction in object", `{"a":0.1}`, false},
	{"exponent", `1e3`, false},
	{"exponent upper", `1E3`, false},
	{"exponent negative", `-1e-3`, false},
	{"exponent plus", `[1e+0]`, false},
	{"2^53", `9007199254740992`, false},
	{"-2^53", `-9007199254740992`, false},
	{"2^53 in object", `{"n":9007199254740993}`, false},
	{"huge", `123456789012345678901234567890`, false},
	{"int64 max", `9223372036854775807`, false},
	{"uint64 overflow", `18446744073709551616`, false},
	{"duplicate key", `{"a":1,"a":2}`, false},
	{"duplicate key spelled with escape", `{"a":1,"\u0061":2}`, false},
	{"duplicate key not adjacent", `{"a":1,"b":2,"a":3}`, false},
	{"duplicate key sorted input", `{"a":1,"b":2,"b":3}`, false},
	{"duplicate key nested", `[{"x":{"k":1,"k":1}}]`, false},
	{"duplicate non-ASCII key", `{"中":1,"\u4e2d":2}`, false},
	{"duplicate empty key", `{"":1,"":2}`, false},
	{"invalid UTF-8 byte", "\"\xff\"", true},
	{"invalid UTF-8 continuation", "\"\x80\"", true},
	{"invalid UTF-8 overlong", "\"\xc0\xaf\"", true},
	{"invalid UTF-8 overlong 3", "\"\xe0\x80\xaf\"", true},
	{"invalid UTF-8 truncated", "\"\xe4\xb8\"", true},
	{"invalid UTF-8 surrogate", "\"\xed\xa0\x80\"", true},
	{"invalid UTF-8 above U+10FFFF", "\"\xf4\x90\x80\x80\"", true},
	{"invalid UTF-8 in key", "{\"\xfe\":1}", true},
	{"lone high surrogate", `"\ud800"`, true},
	{"lone low surrogate", `"\udc00"`, true},
	{"high surrogate then letter", `"\ud800x"`, true},
	{"high surrogate then BMP escape", `"\ud800\u0041"`, true},
	{"two high surrogates", `"\ud800\ud800"`, true},
	{"reversed pair", `"\ude00\ud83d"`, true},
	{"lone surrogate in key", `{"\udbff":1}`, true},
	{"trailing value", `{} {}`, false},
	{"trailing number", `1 2`, false},
	{"trailing garbage", `{}x`, true},
	{"trailing bracket", `[1]]`, true},
	{"trailing comma", `1,`, true},
	{"trailing string", `"a""b"`, false},
	{"depth arrays", deepArrays(maxDepth + 1), true},
	{"depth objects", deepObjects(maxDepth + 1), true},
	{"depth mixed", strings.Repeat(`[{"a":`, 33) + "1" + strings.Repeat("}]", 33), true},
	{"depth very deep", deepArrays(100000), true},
	{"empty", ``, false},
	{"white space only", " \n", false},
	{"unterminated object", `{`, false},
	{"unterminated array", `[1,2`, false},
	{"unterminated string", `"abc`, false},
	{"unterminated escape", `"\`, false},
	{"trailing comma in array", `[1,]`, false},
	{"trailing comma in object", `{"a":1,}`, false},
	{"leading comma", `[,1]`, false},
	{"missing comma", `[1 2]`, false},
	{"missing colon", `{"a" 1}`, false},
	{"missing value", `{"a":}`, false},
	{"key without value", `{"a"}`, false},
	{"number key", `{1:2}`, false},
	{"single quotes", `'a'`, false},
	{"leading zero", `01`, false},
	{"leading zero negative", `-01`, false},
	{"leading zeros in array", `[00]`, false},
	{"lone minus", `-`, false},
	{"plus", `+1`, false},
	{"dot", `.5`, false},
	{"trailing dot", `1.`, false},
	{"hex", `0x10`, true},
	{"NaN", `NaN`, false},
	{"Infinity", `-Infinity`, false},
	{"bad literal", `tru`, false},
	{"bad literal 2", `nul`, false},
	{"bad literal 3", `falsey`, true},
	{"capital literal", `True`, false},
	{"bad escape", `"\x"`, false},
	{"short unicode escape", `"\u12"`, false},
	{"bad hex in escape", `"\u00g0"`, false},
	{"raw control character", "\"a\x01b\"", false},
	{"raw newline in string", "\"a\nb\"", false},
	{"raw tab in string", "\"a\tb\"", false},
	{"byte order mark", "\ufeff{}", false},
	{"NUL outside string", "{}\x00", true},
	{"vertical tab white space", "\v1", false},
	{"non-breaking space white space", "\u00a01", false},
}

func TestCanonicalizeErrors(t *testing.T) {
	for _, c := range canonErrors {
		t.Run(c.name, func(t *testing.T) {
			in := []byte(c.in)
			out, err := CanonicalizeJSON(in)
			if !errors.Is(err, ErrBadValue) {
				t.Fatalf("CanonicalizeJSON(%.80q) = %.80q, %v; want ErrBadValue", in, out, err)
			}
			if out != nil {
				t.Errorf("output %q with error", out)
			}
			if IsCanonical(in) {
				t.Errorf("IsCanonical = true")
			}
			ref, refErr := refCanonicalizeJSON(in)
			if c.looser != (refErr == nil) {
				t.Errorf("reference: %.80q, %v; looser = %v", ref, refErr, c.looser)
			}
			if c.looser && !refLooser(in) && json.Valid(in) {
				t.Errorf("refLooser does not explain the difference")
			}
		})
	}
}

func TestCanonicalDepth(t *testing.T) {
	for _, in := range []string{deepArrays(maxDepth), deepObjects(maxDepth), strings.Repeat(`[{"a":`, maxDepth/2) + "1" + strings.Repeat("}]", maxDepth/2)} {
		out, err := CanonicalizeJSON([]byte(in))
		if err != nil || string(out) != in {
			t.Errorf("depth %d: %v", maxDepth, err)
		}
		if !IsCanonical([]byte(in)) {
			t.Errorf("IsCanonical at depth %d = false", maxDepth)
		}
	}
}

// ---------------------------------------------------------------------------
// IsCanonical
// ---------------------------------------------------------------------------

func TestIsCanonical(t *testing.T) {
	for _, c := range []struct {
		in   string
		want bool
	}{
		{`{}`, true},
		{`[]`, true},
		{`0`, true},
		{`-1`, true},
		{`9007199254740991`, true},
		{`-9007199254740991`, true},
		{`""`, true},
		{`"\"\\\b\f\n\r\t\u0000\u001f\u000b"`, true},
		{"\"\x7f\u00e9\u4e2d\U0001F600\u2028\"", true},
		{`{"":0,"B":1,"a":[true,false,null]}`, true},
		{"{\"\u20ac\":1,\"\U0001F600\":2,\"\ue000\":3}", true},
		{`{"\u0000":0,"\u0001":1,"\t":2,"\"":3,"#":4,"\\":5}`, true},
		{`{"a":{"b":{}},"b":[{"a":1,"b":2}]}`, true},
		{deepArrays(maxDepth), true},

		{``, false},
		{` {}`, false},
		{`{} `, false},
		{"{}\n", false},
		{`[1, 2]`, false},
		{`{"a": 1}`, false},
		{`{"b":1,"a":2}`, false},
		{`{"a":1,"a":1}`, false},
		{"{\"\ue000\":1,\"\U0001F600\":2}", false},
		{`{"\\":5,"#":4}`, false},
		{`{"#":1,"\"":2}`, false},
		{`{"\t":1,"\u0001":2}`, false},
		{`-0`, false},
		{`00`, false},
		{`1.0`, false},
		{`1e0`, false},
		{`9007199254740992`, false},
		{`"\u0041"`, false},
		{`"\/"`, false},
		{`"\u0008"`, false},
		{`"\u0009"`, false},
		{`"\u000a"`, false},
		{`"\u000c"`, false},
		{`"\u000d"`, false},
		{`"\u001F"`, false},
		{`"\u00e9"`, false},
		{`"\u007f"`, false},
		{`"\u0022"`, false},
		{`"\ud83d\ude00"`, false},
		{"\"\x01\"", false},
		{"\"\xff\"", false},
		{"\"\xed\xa0\x80\"", false},
		{`"a`, false},
		{`{"a":1}x`, false},
		{deepArrays(maxDepth + 1), false},
	} {
		in := []byte(c.in)
		if got := IsCanonical(in); got != c.want {
			t.Errorf("IsCanonical(%.80q) = %v, want %v", in, got, c.want)
		}
		out, err := CanonicalizeJSON(in)
		if want := err == nil && bytes.Equal(out, in); want != c.want {
			t.Errorf("CanonicalizeJSON(%.80q) = %q, %v: disagrees with the table", in, out, err)
		}
	}
}

func TestCanonicalAllocs(t *testing.T) {
	if testing.CoverMode() != "" {
		t.Skip("coverage instrumentation allocates")
	}
	m, c := sampleTxBytes(t)
	if n := testing.AllocsPerRun(100, func() { IsCanonical(c) }); n != 0 {
		t.Errorf("IsCanonical: %v allocations, want 0", n)
	}
	if raceEnabled() {
		t.Log("CanonicalizeJSON not measured: the race detector makes sync.Pool drop items")
		return
	}
	if n := testing.AllocsPerRun(100, func() { _, _ = CanonicalizeJSON(c) }); n > 1 {
		t.Errorf("CanonicalizeJSON(canonical): %v allocations, want 1", n)
	}
	if n := testing.AllocsPerRun(100, func() { _, _ = CanonicalizeJSON(m) }); n > 1 {
		t.Errorf("CanonicalizeJSON(marshalled): %v allocations, want 1", n)
	}
}

// raceEnabled reports whether the test binary was built with -race.
func raceEnabled() bool {
	if bi, ok := debug.ReadBuildInfo(); ok {
		for _, s := range bi.Settings {
			if s.Key == "-race" {
				return s.Value == "true"
			}
		}
	}
	return false
}

// ---------------------------------------------------------------------------
// DecodeTx keeps its errors
// ---------------------------------------------------------------------------

func TestDecodeTxCanonicalCheck(t *testing.T) {
	m, c := sampleTxBytes(t)
	enc, err := EncodeTx(sampleTx())
	if err != nil || !bytes.Equal(enc, c) {
		t.Fatalf("EncodeTx: %q, %v", enc, err)
	}
	tx, err := DecodeTx(c)
	if err != nil {
		t.Fatalf("DecodeTx(canonical): %v", err)
	}
	if again, _ := EncodeTx(tx); !bytes.Equal(again, c) {
		t.Fatalf("round trip changed the bytes")
	}
	for _, in := range [][]byte{m, append(slices.Clone(c), ' '), bytes.Replace(c, []byte(`"v":1`), []byte(`"v":-0`), 1)} {
		if _, err := DecodeTx(in); !errors.Is(err, ErrNotCanonical) || errors.Is(err, ErrBadValue) {
			t.Errorf("DecodeTx(%.60q): %v, want ErrNotCanonical", in, err)
		}
	}
	for _, in := range [][]byte{
		c[:len(c)-1],
		append(slices.Clone(c), '}'),
		bytes.Replace(c, []byte(`"v":1`), []byte(`"v":1.5`), 1),
		bytes.Replace(c, []byte(`"gba"`), []byte(`"\ud800"`), 1),
		bytes.Replace(c, []byte(`"gba"`), []byte("\"\xff\""), 1),
		bytes.Replace(c, []byte(`"chain":"gba",`), []byte(`"chain":"gba","chain":"gba",`), 1),
		append(slices.Clone(c[:len(c)-1]), `,"zzz":1}`...), // canonical, but no such member
	} {
		if _, err := DecodeTx(in); !errors.Is(err, ErrBadValue) || errors.Is(err, ErrNotCanonical) {
			t.Errorf("DecodeTx(%.60q): %v, want ErrBadValue", in, err)
		}
	}
}

// ---------------------------------------------------------------------------
// Differential test against the reference on random JSON texts
// ---------------------------------------------------------------------------

// jsonGen writes random JSON texts with random spelling: white space, escape
// forms, key order, and now and then a duplicate key or a number the
// canonical form cannot carry.
type jsonGen struct {
	r   *rand.Rand
	buf []byte
}

var genKeys = []string{"", "a", "B", "b", "ab", "a\x00", "\u20ac", "\U0001F600", "\ue000", "\uffff", "\uff21", "\"", "\\", "\t", "\x01", "/", "中", "中文", "\u00f6", "id", "record", "zh-Hans"}

func (g *jsonGen) ws() {
	if g.r.IntN(4) == 0 {
		g.buf = append(g.buf, " \t\n\r  \n"[g.r.IntN(6):][:1+g.r.IntN(2)]...)
	}
}

func (g *jsonGen) randRune() rune {
	switch g.r.IntN(12) {
	case 0:
		return rune(g.r.IntN(0x20))
	case 1:
		return []rune{'"', '\\', '/', 0x7f}[g.r.IntN(4)]
	case 2:
		return 0x80 + rune(g.r.IntN(0x780))
	case 3:
		return 0x4e00 + rune(g.r.IntN(0x5200))
	case 4:
		return 0xe000 + rune(g.r.IntN(0x2000))
	case 5:
		return 0x10000 + rune(g.r.IntN(0x100000))
	case 6:
		return []rune{0x2028, 0x2029, 0xfeff, 0xfffd, 0xffff, 0xd7ff, 0x10ffff}[g.r.IntN(7)]
	}
	return 0x20 + rune(g.r.IntN(0x5f))
}

func (g *jsonGen) str(s string) {
	g.buf = append(g.buf, '"')
	for _, r := range s {
		g.char(r)
	}
	g.buf = append(g.buf, '"')
}

func (g *jsonGen) char(r rune) {
	hex4 := func(u rune) {
		h := fmt.Sprintf("%04x", u)
		if g.r.IntN(2) == 0 {
			h = strings.ToUpper(h)
		}
		g.buf = append(g.buf, `\u`+h...)
	}
	short := map[rune]string{'"': `\"`, '\\': `\\`, '/': `\/`, '\b': `\b`, '\f': `\f`, '\n': `\n`, '\r': `\r`, '\t': `\t`}
	switch esc, ok := short[r]; {
	case ok && (r < 0x20 || r == '"' || r == '\\' || g.r.IntN(2) == 0):
		g.buf = append(g.buf, esc...)
	case r < 0x20 || r == '"' || r == '\\' || g.r.IntN(5) == 0:
		if r >= 0x10000 {
			hi, lo := utf16.EncodeRune(r)
			hex4(hi)
			hex4(lo)
		} else {
			hex4(r)
		}
	default:
		g.buf = utf8.AppendRune(g.buf, r)
	}
}

func (g *jsonGen) randString() string {
	n := g.r.IntN(8)
	rs := make([]rune, n)
	for i := range rs {
		rs[i] = g.randRune()
	}
	return string(rs)
}

func (g *jsonGen) number() {
	switch g.r.IntN(60) {
	case 0:
		g.buf = append(g.buf, "-0"...)
	case 1:
		g.buf = append(g.buf, []string{"9007199254740991", "-9007199254740991", "9007199254740992", "-9007199254740992", "1.5", "1e3", "-0.0", "12345678901234567890"}[g.r.IntN(8)]...)
	case 2, 3, 4:
		g.buf = strconv.AppendInt(g.buf, g.r.Int64N(2*maxSafeInt+1)-maxSafeInt, 10)
	default:
		g.buf = strconv.AppendInt(g.buf, int64(g.r.IntN(2001)-1000), 10)
	}
}

func (g *jsonGen) value(depth int) {
	k := g.r.IntN(10)
	if depth >= 6 {
		k = 3 + g.r.IntN(7)
	}
	switch k {
	case 0, 1:
		g.buf = append(g.buf, '{')
		n := g.r.IntN(7)
		var keys []string
		for i := range n {
			if i > 0 {
				g.buf = append(g.buf, ',')
			}
			g.ws()
			var key string
			switch {
			case i > 0 && g.r.IntN(60) == 0:
				key = keys[g.r.IntN(len(keys))] // duplicate
			case g.r.IntN(2) == 0:
				key = genKeys[g.r.IntN(len(genKeys))]
				if slices.Contains(keys, key) {
					key += "+"
				}
			default:
				key = g.randString()
			}
			keys = append(keys, key)
			g.str(key)
			g.ws()
			g.buf = append(g.buf, ':')
			g.ws()
			g.value(depth + 1)
			g.ws()
		}
		g.buf = append(g.buf, '}')
	case 2:
		g.buf = append(g.buf, '[')
		for i := range g.r.IntN(6) {
			if i > 0 {
				g.buf = append(g.buf, ',')
			}
			g.ws()
			g.value(depth + 1)
			g.ws()
		}
		g.buf = append(g.buf, ']')
	case 3, 4, 5:
		g.str(g.randString())
	case 6, 7:
		g.number()
	default:
		g.buf = append(g.buf, []string{"true", "false", "null"}[g.r.IntN(3)]...)
	}
}

func TestCanonicalDifferential(t *testing.T) {
	seed := *canonSeed
	if seed == 0 {
		seed = uint64(time.Now().UnixNano())
	}
	t.Logf("seed %d (rerun with -canon.seed=%d)", seed, seed)
	g := &jsonGen{r: rand.New(rand.NewPCG(seed, 0x62617962757321))}
	n := 20000
	if testing.Short() {
		n = 2000
	}
	accepted := 0
	for range n {
		g.buf = g.buf[:0]
		g.ws()
		g.value(0)
		g.ws()
		in := g.buf
		ref, refErr := refCanonicalizeJSON(in)
		out, err := CanonicalizeJSON(in)
		switch {
		case err != nil && !errors.Is(err, ErrBadValue):
			t.Fatalf("CanonicalizeJSON(%q): error %v is not ErrBadValue", in, err)
		case (err == nil) != (refErr == nil):
			t.Fatalf("CanonicalizeJSON(%q) = %q, %v\nreference = %q, %v", in, out, err, ref, refErr)
		case err != nil:
			if IsCanonical(in) {
				t.Fatalf("IsCanonical(%q) = true for an invalid text", in)
			}
			continue
		case !bytes.Equal(out, ref):
			t.Fatalf("CanonicalizeJSON(%q)\n got %q\nwant %q", in, out, ref)
		case !IsCanonical(out):
			t.Fatalf("IsCanonical(CanonicalizeJSON(%q) = %q) = false", in, out)
		case IsCanonical(in) != bytes.Equal(in, out):
			t.Fatalf("IsCanonical(%q) = %v", in, IsCanonical(in))
		}
		again, err := CanonicalizeJSON(out)
		if err != nil || !bytes.Equal(again, out) {
			t.Fatalf("CanonicalizeJSON is not idempotent on %q: %q, %v", out, again, err)
		}
		accepted++
	}
	t.Logf("%d of %d random texts accepted", accepted, n)
	if accepted < n/3 {
		t.Errorf("only %d of %d random texts accepted: the generator is too hostile", accepted, n)
	}
}

// ---------------------------------------------------------------------------
// Fuzzing
// ---------------------------------------------------------------------------

func canonSeeds(f *testing.F) {
	m, c := sampleTxBytes(f)
	f.Add(m)
	f.Add(c)
	for _, g := range canonGolden {
		if g.in != "" && len(g.in) < 1000 {
			f.Add([]byte(g.in))
		}
		if g.want != "" && len(g.want) < 1000 {
			f.Add([]byte(g.want))
		}
	}
	for _, e := range canonErrors {
		if len(e.in) < 1000 {
			f.Add([]byte(e.in))
		}
	}
}

// FuzzCanonicalize checks CanonicalizeJSON against the reference: for every
// input that encoding/json accepts as valid the two make the same decision
// and the same bytes, except where the reference is knowingly looser
// (refLooser). Inputs encoding/json rejects must be rejected.
func FuzzCanonicalize(f *testing.F) {
	canonSeeds(f)
	f.Fuzz(func(t *testing.T, in []byte) {
		out, err := CanonicalizeJSON(in)
		if err != nil {
			if !errors.Is(err, ErrBadValue) || out != nil {
				t.Fatalf("CanonicalizeJSON(%q) = %q, %v", in, out, err)
			}
			if IsCanonical(in) {
				t.Fatalf("IsCanonical(%q) = true for an invalid text", in)
			}
		} else {
			if !IsCanonical(out) {
				t.Fatalf("IsCanonical(CanonicalizeJSON(%q) = %q) = false", in, out)
			}
			if again, err := CanonicalizeJSON(out); err != nil || !bytes.Equal(again, out) {
				t.Fatalf("not idempotent on %q: %q, %v", out, again, err)
			}
			if IsCanonical(in) != bytes.Equal(in, out) {
				t.Fatalf("IsCanonical(%q) = %v", in, IsCanonical(in))
			}
		}
		if !json.Valid(in) {
			if err == nil {
				t.Fatalf("CanonicalizeJSON accepts invalid JSON %q as %q", in, out)
			}
			return
		}
		ref, refErr := refCanonicalizeJSON(in)
		switch {
		case err == nil && refErr != nil:
			t.Fatalf("CanonicalizeJSON(%q) = %q, reference rejects: %v", in, out, refErr)
		case err == nil && !bytes.Equal(out, ref):
			t.Fatalf("CanonicalizeJSON(%q)\n got %q\nwant %q", in, out, ref)
		case err != nil && refErr == nil && !refLooser(in):
			t.Fatalf("CanonicalizeJSON(%q): %v; reference accepts as %q", in, err, ref)
		}
	})
}

// FuzzIsCanonical checks that IsCanonical(x) holds exactly when x is valid and
// CanonicalizeJSON(x) == x, and that the reference agrees on such x.
func FuzzIsCanonical(f *testing.F) {
	canonSeeds(f)
	f.Fuzz(func(t *testing.T, in []byte) {
		got := IsCanonical(in)
		out, err := CanonicalizeJSON(in)
		if want := err == nil && bytes.Equal(out, in); got != want {
			t.Fatalf("IsCanonical(%q) = %v; CanonicalizeJSON = %q, %v", in, got, out, err)
		}
		if got {
			if ref, err := refCanonicalizeJSON(in); err != nil || !bytes.Equal(ref, in) {
				t.Fatalf("IsCanonical(%q) = true; reference gives %q, %v", in, ref, err)
			}
		}
	})
}

// ---------------------------------------------------------------------------
// Benchmarks
// ---------------------------------------------------------------------------

func BenchmarkCanonicalizeJSON(b *testing.B) {
	m, c := sampleTxBytes(b)
	var ind bytes.Buffer
	if err := json.Indent(&ind, m, "", "  "); err != nil {
		b.Fatal(err)
	}
	for _, bc := range []struct {
		name string
		in   []byte
	}{{"canonical", c}, {"marshalled", m}, {"indented", ind.Bytes()}} {
		b.Run(bc.name, func(b *testing.B) {
			b.SetBytes(int64(len(bc.in)))
			b.ReportAllocs()
			for b.Loop() {
				if _, err := CanonicalizeJSON(bc.in); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkIsCanonical(b *testing.B) {
	_, c := sampleTxBytes(b)
	b.SetBytes(int64(len(c)))
	b.ReportAllocs()
	for b.Loop() {
		if !IsCanonical(c) {
			b.Fatal("not canonical")
		}
	}
}

func BenchmarkDecodeTx(b *testing.B) {
	_, c := sampleTxBytes(b)
	b.SetBytes(int64(len(c)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := DecodeTx(c); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkRefCanonicalizeJSON measures the encoding/json based reference
// (the implementation before the rewrite) for comparison.
func BenchmarkRefCanonicalizeJSON(b *testing.B) {
	_, c := sampleTxBytes(b)
	b.SetBytes(int64(len(c)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := refCanonicalizeJSON(c); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkValidateEventJSON measures the gateway's per-event check of a
// valid event: the compiled checks (compiled.go) and the decoding into an
// Event; BenchmarkValidateEventSchema the same by the JSON Schema
// validator.
func BenchmarkValidateEventJSON(b *testing.B) { benchmarkValidate(b, ValidateEventJSON) }

func BenchmarkValidateEventSchema(b *testing.B) { benchmarkValidate(b, validateEventSchema) }

func benchmarkValidate(b *testing.B, validate func([]byte) (*Event, error)) {
	tx := sampleTx()
	raw, err := json.Marshal(Event{EventID: tx.EventID, Kind: tx.Kind, Action: tx.Action, OccurredAt: tx.OccurredAt, Reason: tx.Reason, Record: tx.Record})
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(raw)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := validate(raw); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkCheckTx measures the orderers' per-transaction record check
// (rules version 2), against BenchmarkValidateEventJSON's JSON Schema.
func BenchmarkCheckTx(b *testing.B) {
	tx := sampleTx()
	b.ReportAllocs()
	for b.Loop() {
		if err := CheckTx(tx); err != nil {
			b.Fatal(err)
		}
	}
}

func TestHasEmptyValue(t *testing.T) {
	for in, want := range map[string]bool{
		`{"a":"x","b":[1,{"c":"d"}]}`: false,
		`{"a":""}`:                    true,
		`{"a":null}`:                  true,
		`{"a":{}}`:                    true,
		`{"a":[]}`:                    true,
		`{"a":["x",[]]}`:              true,
		`{"a":"null {} [] \"\""}`:     false, // inside a string
		`{"a":"\\"}`:                  false,
		`{"a":"\\","b":""}`:           true,
		`{"a":"x\"y"}`:                false,
		`{"n":1}`:                     false,
	} {
		if got := HasEmptyValue([]byte(in)); got != want {
			t.Errorf("HasEmptyValue(%s) = %v, want %v", in, got, want)
		}
	}
}
