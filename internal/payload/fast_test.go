package payload

import (
	"bytes"
	"encoding/json"
	"math"
	"reflect"
	"testing"
)

// The fast paths must agree with encoding/json: same bytes when encoding,
// same value or an error when decoding.

func TestMarshalMatchesEncodingJSON(t *testing.T) {
	n, s, b := 7, "plain", true
	values := []any{
		0, 1, -1, math.MaxInt64, math.MinInt64, int64(-42), int32(math.MinInt32), uint(7),
		uint64(math.MaxUint64), uint32(9), true, false, "", "hello world", "a<b", "x&y", "q\"uote",
		"back\\slash", "tab\there", "new\nline", "é", "\u2028", "\xff", "~", &n, &s, &b,
		(*int)(nil), (*string)(nil), 1.5, []int{1}, map[string]int{"a": 1}, nil,
	}
	for _, v := range values {
		want, werr := json.Marshal(v)
		got, gerr := JSON{}.Marshal(v)
		if (werr != nil) != (gerr != nil) || !bytes.Equal(got, want) {
			t.Errorf("Marshal(%#v) = %q, %v; encoding/json: %q, %v", v, got, gerr, want, werr)
		}
	}
}

func FuzzUnmarshalMatchesEncodingJSON(f *testing.F) {
	for _, s := range []string{
		"0", "-0", "1", "-1", "01", "+1", "1e3", "1.0", "9223372036854775807", "9223372036854775808",
		"-9223372036854775808", "-9223372036854775809", "2147483648", " 12 ", "1 2", "", "null",
		"true", "false", "tru", `"x"`, `"a\"b"`, `"\u00e9"`, `"é"`, "\"\xff\"", `"`, `""`, `"a"b"`,
		"\"tab\there\"", "18446744073709551615", "18446744073709551616", "-", "--1", "1_000",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		check(t, data, new(int))
		check(t, data, new(int64))
		check(t, data, new(int32))
		check(t, data, new(uint64))
		check(t, data, new(bool))
		check(t, data, new(string))
	})
}

// check decodes data into a fresh value of p's type with JSON{} and with
// encoding/json, starting from the same non-zero value, and compares.
func check[T any](t *testing.T, data []byte, _ *T) {
	t.Helper()
	if len(data) == 0 {
		return // JSON{} leaves the value unchanged, by contract
	}
	var got, want T
	gerr := JSON{}.Unmarshal(data, &got)
	werr := json.Unmarshal(data, &want)
	if (gerr != nil) != (werr != nil) {
		t.Fatalf("Unmarshal(%q) into %T: error %v; encoding/json: %v", data, got, gerr, werr)
	}
	if werr == nil && !reflect.DeepEqual(got, want) {
		t.Fatalf("Unmarshal(%q) into %T = %#v; encoding/json: %#v", data, got, got, want)
	}
}
