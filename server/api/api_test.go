package api

import (
	"encoding/json"
	"strings"
	"testing"
)

func TestCheckInstanceID(t *testing.T) {
	for _, id := range []string{"a", "order-1", "parent:0001", "ünïcode", "a.b_c@d", strings.Repeat("x", 256)} {
		if err := CheckInstanceID(id); err != nil {
			t.Errorf("%q: %v", id, err)
		}
	}
	for id, want := range map[string]string{
		"":                       "empty",
		"a/b":                    "'/'",
		"a*":                     "'*'",
		"a b":                    "' '",
		"a\tb":                   "control character",
		"\xff":                   "UTF-8",
		strings.Repeat("x", 257): "limit is 256",
	} {
		if err := CheckInstanceID(id); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%q: %v, want %q", id, err, want)
		}
	}
	if err := CheckName("event name", "a b/c*"); err != nil {
		t.Errorf("names may have spaces, '/' and '*': %v", err)
	}
}

func TestIsNull(t *testing.T) {
	for raw, want := range map[string]bool{"": true, "null": true, " null ": true, "0": false, `""`: false, "{}": false} {
		if IsNull(json.RawMessage(raw)) != want {
			t.Errorf("IsNull(%q) != %v", raw, want)
		}
	}
	var in Instance
	_ = json.Unmarshal([]byte(`{"output":null}`), &in)
	if !IsNull(in.Output) || in.Finished() {
		t.Fatalf("decoded %+v", in)
	}
}
