package history

import (
	"bytes"
	"encoding/json"
	"math"
	"math/rand/v2"
	"reflect"
	"testing"
	"time"

	"github.com/perdure/perdure/internal/failure"
	"github.com/perdure/perdure/internal/payload"
	"github.com/perdure/perdure/store"
)

// The codec must write exactly what encoding/json writes for Data and read
// exactly what it reads; these tests compare the two on generated values
// and on arbitrary documents.

var (
	tricky = []string{"", "a", "plain text", "orders-42", "a<b>&c", "quote\"d", "back\\slash", "tab\t",
		"line\nbreak", "\x00ctl", "é", "日本", "\u2028", "\xff\xfe", "~!@#$%^*()", "{\"json\":1}"}
	payloads = []string{"", "1", "-7", "1.5e3", `"s"`, `"a b"`, `{"a":[1,2,{"b":null}]}`, `{ "a" : 1 }`,
		`[1, 2]`, `"<tag>"`, `"\u00e9"`, "\"é\"", `true`, `null`, "\x00\x01binary", `{"$base64":"AA=="}`, "not json", `"x`}
	zones = []*time.Location{time.UTC, time.FixedZone("east", 5*3600+1800), time.FixedZone("far", 25*3600), time.Local}
)

func pick[T any](r *rand.Rand, s []T) T { return s[r.IntN(len(s))] }

func randomTime(r *rand.Rand) time.Time {
	switch r.IntN(6) {
	case 0:
		return time.Time{}
	case 1:
		return time.Date(10000+r.IntN(5), 1, 1, 0, 0, 0, 0, time.UTC)
	case 2:
		return time.Unix(r.Int64N(1<<34), r.Int64N(1e9)).In(pick(r, zones))
	}
	return time.UnixMicro(r.Int64N(1 << 52)).UTC()
}

func randomFailure(r *rand.Rand) *failure.Failure {
	if r.IntN(3) > 0 {
		return nil
	}
	f := &failure.Failure{Message: pick(r, tricky), Type: pick(r, tricky), NonRetryable: r.IntN(2) == 0, Attempts: r.IntN(4)}
	if p := pick(r, payloads); json.Valid([]byte(p)) && p != "null" {
		f.Details = json.RawMessage(p)
	}
	if r.IntN(3) == 0 {
		f.Cause = &failure.Failure{Message: pick(r, tricky)}
	}
	return f
}

func randomInt(r *rand.Rand) int64 {
	switch r.IntN(4) {
	case 0:
		return 0
	case 1:
		return math.MinInt64 + r.Int64N(3)
	case 2:
		return math.MaxInt64 - r.Int64N(3)
	}
	return r.Int64N(2000) - 1000
}

func randomData(r *rand.Rand) *Data {
	d := &Data{
		Seq: randomInt(r), Name: pick(r, tricky), InstanceID: pick(r, tricky), RunID: pick(r, tricky),
		Input: payload.Payload(pick(r, payloads)), Result: payload.Payload(pick(r, payloads)),
		Failure: randomFailure(r), Status: store.Status(pick(r, tricky)), Reason: pick(r, tricky),
		Recursive: r.IntN(2) == 0, FireAt: randomTime(r), Source: pick(r, tricky), ChangeID: pick(r, tricky),
		Version: int(randomInt(r)), TaskQueue: pick(r, tricky), ParentInstanceID: pick(r, tricky),
		ParentRunID: pick(r, tricky), ParentSeq: randomInt(r), Purpose: pick(r, tricky),
	}
	if p := pick(r, payloads); json.Valid([]byte(p)) {
		d.Options = json.RawMessage(p)
	}
	for range r.IntN(3) {
		d.Attempts = append(d.Attempts, Attempt{Attempt: int(randomInt(r)), StartedAt: randomTime(r),
			EndedAt: randomTime(r), Failure: randomFailure(r), NextRetryAt: randomTime(r)})
	}
	for range r.IntN(2) * r.IntN(3) {
		d.Events = append(d.Events, CarriedEvent{Name: pick(r, tricky), Input: payload.Payload(pick(r, payloads))})
	}
	// Most events set a few fields only: clear most of them at random.
	v := reflect.ValueOf(d).Elem()
	for i := range v.NumField() {
		if r.IntN(3) > 0 {
			v.Field(i).SetZero()
		}
	}
	return d
}

func TestEncodeDataMatchesEncodingJSON(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for i := range 20000 {
		d := randomData(r)
		want, werr := json.Marshal(d)
		got, gerr := encodeData(d)
		if (werr != nil) != (gerr != nil) || !bytes.Equal(got, want) {
			t.Fatalf("value %d: %+v\nencodeData:    %s (%v)\nencoding/json: %s (%v)", i, d, got, gerr, want, werr)
		}
		if werr != nil {
			continue
		}
		var back, wantBack Data
		berr := decodeData(got, &back)
		wberr := json.Unmarshal(got, &wantBack)
		if (berr != nil) != (wberr != nil) || !reflect.DeepEqual(back, wantBack) {
			t.Fatalf("value %d: decodeData(%s) = %+v (%v); encoding/json: %+v (%v)", i, got, back, berr, wantBack, wberr)
		}
	}
}

func TestDecodeDataTakesTheFastPath(t *testing.T) {
	at := time.Date(2026, 11, 22, 5, 6, 7, 891000, time.UTC)
	d := &Data{Seq: 3, Name: "charge", Result: payload.Payload(`{"id":"c-1","amount":12.5}`),
		Attempts: []Attempt{{Attempt: 1, StartedAt: at, EndedAt: at.Add(time.Millisecond)}}, FireAt: at}
	b, err := encodeData(d)
	if err != nil {
		t.Fatal(err)
	}
	var got Data
	if !(&decoder{b: b}).data(&got) {
		t.Fatalf("the fast decoder refused %s", b)
	}
	if !reflect.DeepEqual(&got, d) {
		t.Fatalf("decoded %+v, want %+v", got, *d)
	}
}

func FuzzDecodeDataMatchesEncodingJSON(f *testing.F) {
	r := rand.New(rand.NewPCG(3, 4))
	for range 200 {
		b, err := json.Marshal(randomData(r))
		if err == nil {
			f.Add(b)
		}
	}
	for _, s := range []string{"", "null", "{}", "[]", `{"seq":1,"seq":2}`, `{"Seq":1}`, `{"seq":1.0}`, `{"seq":01}`,
		`{"name":null}`, `{"input":null}`, `{"input":{"$base64":"AAE="}}`, `{"input": [1, 2 ] }`, `{"fireAt":"2026-01-02T03:04:05Z"}`,
		`{"fireAt":"bad"}`, `{"attempts":[{"attempt":1,"failure":null}]}`, `{"attempts":[]}`, `{"recursive":true} x`,
		`{"name":"a\u00e9"}`, "{\"name\":\"\xff\"}", `{"version":9223372036854775808}`, `{"options":{"a":1}}`, `{"seq":-}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		var got, want Data
		gerr := decodeData(b, &got)
		werr := json.Unmarshal(b, &want)
		if (gerr != nil) != (werr != nil) {
			t.Fatalf("decodeData(%q): %v; encoding/json: %v", b, gerr, werr)
		}
		if werr == nil && !reflect.DeepEqual(got, want) {
			t.Fatalf("decodeData(%q) = %+v; encoding/json: %+v", b, got, want)
		}
	})
}

func TestDecodeForReplayLeavesAttemptsOut(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	for i := range 2000 {
		d := randomData(r)
		b, err := json.Marshal(d)
		if err != nil {
			continue
		}
		se := &store.Event{ID: int64(i + 1), Type: TaskCompleted, Data: b}
		full, err := Decode(se)
		if err != nil {
			t.Fatal(err)
		}
		got, err := DecodeForReplay(se)
		if err != nil {
			t.Fatal(err)
		}
		if got.Attempts != nil {
			t.Fatalf("DecodeForReplay(%s) kept the attempts", b)
		}
		full.Attempts = nil
		if !reflect.DeepEqual(got, full) {
			t.Fatalf("DecodeForReplay(%s) = %+v, Decode without attempts: %+v", b, got, full)
		}
	}
	if _, err := DecodeForReplay(&store.Event{Type: TaskCompleted, Data: []byte(`{"attempts":[1,}`)}); err == nil {
		t.Fatal("a malformed attempts log decoded")
	}
}
