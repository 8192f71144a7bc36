package history

import (
	"encoding/json"
	"strconv"
	"time"
	"unicode/utf8"

	"github.com/perdure/perdure/internal/failure"
	"github.com/perdure/perdure/internal/payload"
	"github.com/perdure/perdure/store"
)

// The codec of Data. Every event and message is encoded when it is
// written and decoded when a history is loaded, so this is on the hot path
// of every step and of every replay. It writes exactly the bytes that
// encoding/json writes for Data, and reads what encoding/json reads: the
// fields that are plain values (integers, strings of printable text,
// times, payloads that are compact JSON) are handled here; whatever is
// not (escaped text, nested failures, null, unknown keys, malformed
// input) is handed to encoding/json, for that field or the whole document,
// which also produces the errors.

// encodeData returns the JSON encoding of d.
func encodeData(d *Data) ([]byte, error) {
	b := make([]byte, 0, 128)
	b = append(b, '{')
	var err error
	if d.Seq != 0 {
		b = strconv.AppendInt(appendKey(b, "seq"), d.Seq, 10)
	}
	b = appendStringField(b, "name", d.Name)
	b = appendStringField(b, "instanceId", d.InstanceID)
	b = appendStringField(b, "runId", d.RunID)
	if b, err = appendPayloadField(b, "input", d.Input); err != nil {
		return nil, err
	}
	if b, err = appendPayloadField(b, "result", d.Result); err != nil {
		return nil, err
	}
	if d.Failure != nil {
		if b, err = appendJSON(appendKey(b, "failure"), d.Failure); err != nil {
			return nil, err
		}
	}
	b = appendStringField(b, "status", string(d.Status))
	b = appendStringField(b, "reason", d.Reason)
	if d.Recursive {
		b = append(appendKey(b, "recursive"), "true"...)
	}
	if !d.FireAt.IsZero() {
		if b, err = appendTime(appendKey(b, "fireAt"), d.FireAt); err != nil {
			return nil, err
		}
	}
	if len(d.Options) > 0 {
		if b, err = appendRaw(appendKey(b, "options"), d.Options, d.Options); err != nil {
			return nil, err
		}
	}
	b = appendStringField(b, "source", d.Source)
	if len(d.Attempts) > 0 {
		if b, err = appendAttempts(appendKey(b, "attempts"), d.Attempts); err != nil {
			return nil, err
		}
	}
	b = appendStringField(b, "changeId", d.ChangeID)
	if d.Version != 0 {
		b = strconv.AppendInt(appendKey(b, "version"), int64(d.Version), 10)
	}
	b = appendStringField(b, "taskQueue", d.TaskQueue)
	b = appendStringField(b, "parentInstanceId", d.ParentInstanceID)
	b = appendStringField(b, "parentRunId", d.ParentRunID)
	if d.ParentSeq != 0 {
		b = strconv.AppendInt(appendKey(b, "parentSeq"), d.ParentSeq, 10)
	}
	b = appendStringField(b, "purpose", d.Purpose)
	if len(d.Events) > 0 {
		if b, err = appendJSON(appendKey(b, "events"), d.Events); err != nil {
			return nil, err
		}
	}
	return append(b, '}'), nil
}

// appendKey appends "key": after a comma unless it is the first field.
func appendKey(b []byte, key string) []byte {
	if b[len(b)-1] != '{' {
		b = append(b, ',')
	}
	b = append(b, '"')
	b = append(b, key...)
	return append(b, '"', ':')
}

func appendStringField(b []byte, key, s string) []byte {
	if s == "" {
		return b
	}
	return appendString(appendKey(b, key), s)
}

// appendString appends s as a JSON string, escaped as encoding/json does.
func appendString(b []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		if c := s[i]; !plainByte(c) || c == '<' || c == '>' || c == '&' {
			q, _ := json.Marshal(s) // a string always encodes
			return append(b, q...)
		}
	}
	b = append(b, '"')
	b = append(b, s...)
	return append(b, '"')
}

func appendPayloadField(b []byte, key string, p payload.Payload) ([]byte, error) {
	if len(p) == 0 {
		return b, nil
	}
	return appendRaw(appendKey(b, key), p, p)
}

// appendRaw appends raw, a value of a type whose JSON form is raw itself
// when raw is valid JSON (payload.Payload, json.RawMessage): as is when it
// is compact text that needs no escaping, else as encoding/json writes v.
func appendRaw(b []byte, raw []byte, v any) ([]byte, error) {
	for _, c := range raw {
		if c <= ' ' || c >= 0x7f || c == '<' || c == '>' || c == '&' {
			return appendJSON(b, v)
		}
	}
	if !json.Valid(raw) {
		return appendJSON(b, v)
	}
	return append(b, raw...), nil
}

func appendJSON(b []byte, v any) ([]byte, error) {
	j, err := json.Marshal(v)
	if err != nil {
		return nil, err
	}
	return append(b, j...), nil
}

// appendTime appends t as encoding/json does (RFC 3339 with nanoseconds).
func appendTime(b []byte, t time.Time) ([]byte, error) {
	if y := t.Year(); y < 0 || y > 9999 || t.Location() != time.UTC {
		return appendJSON(b, t) // other zones, and encoding/json's errors
	}
	b = append(b, '"')
	b = t.AppendFormat(b, time.RFC3339Nano)
	return append(b, '"'), nil
}

func appendAttempts(b []byte, as []Attempt) ([]byte, error) {
	var err error
	b = append(b, '[')
	for i := range as {
		a := &as[i]
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, `{"attempt":`...)
		b = strconv.AppendInt(b, int64(a.Attempt), 10)
		if b, err = appendTime(append(b, `,"startedAt":`...), a.StartedAt); err != nil {
			return nil, err
		}
		if b, err = appendTime(append(b, `,"endedAt":`...), a.EndedAt); err != nil {
			return nil, err
		}
		if a.Failure != nil {
			if b, err = appendJSON(append(b, `,"failure":`...), a.Failure); err != nil {
				return nil, err
			}
		}
		if !a.NextRetryAt.IsZero() {
			if b, err = appendTime(append(b, `,"nextRetryAt":`...), a.NextRetryAt); err != nil {
				return nil, err
			}
		}
		b = append(b, '}')
	}
	return append(b, ']'), nil
}

// plainByte reports whether c stands for itself inside a JSON string.
func plainByte(c byte) bool { return c >= 0x20 && c < 0x7f && c != '"' && c != '\\' }

// decodeData decodes the JSON encoding of a Data into d, which must be
// zero.
func decodeData(b []byte, d *Data) error {
	if (&decoder{b: b}).data(d) {
		return nil
	}
	*d = Data{}
	return json.Unmarshal(b, d)
}

// decoder reads the documents encodeData writes. Each method reports false
// for anything it does not handle, and the caller then decodes the whole
// document with encoding/json.
type decoder struct {
	b []byte
	i int
	// skipAttempts: check the attempts log's syntax, but leave it nil.
	skipAttempts bool
}

// Fields of Data, as bits, to refuse a document that repeats a key.
const (
	fSeq = 1 << iota
	fName
	fInstanceID
	fRunID
	fInput
	fResult
	fFailure
	fStatus
	fReason
	fRecursive
	fFireAt
	fOptions
	fSource
	fAttempts
	fChangeID
	fVersion
	fTaskQueue
	fParentInstanceID
	fParentRunID
	fParentSeq
	fPurpose
	fEvents
)

func (r *decoder) data(d *Data) bool {
	r.space()
	if !r.byte('{') {
		return false
	}
	r.space()
	if r.byte('}') {
		return r.end()
	}
	seen := 0
	for {
		key, ok := r.plainString()
		if !ok {
			return false
		}
		r.space()
		if !r.byte(':') {
			return false
		}
		r.space()
		var bit int
		switch string(key) {
		case "seq":
			bit, ok = fSeq, r.int64(&d.Seq)
		case "name":
			bit, ok = fName, r.string(&d.Name)
		case "instanceId":
			bit, ok = fInstanceID, r.string(&d.InstanceID)
		case "runId":
			bit, ok = fRunID, r.string(&d.RunID)
		case "input":
			bit, ok = fInput, r.payload(&d.Input)
		case "result":
			bit, ok = fResult, r.payload(&d.Result)
		case "failure":
			bit = fFailure
			var f failure.Failure
			if ok = r.nested(&f); ok {
				d.Failure = &f
			}
		case "status":
			var s string
			bit, ok = fStatus, r.string(&s)
			d.Status = store.Status(s)
		case "reason":
			bit, ok = fReason, r.string(&d.Reason)
		case "recursive":
			bit, ok = fRecursive, r.bool(&d.Recursive)
		case "fireAt":
			bit, ok = fFireAt, r.time(&d.FireAt)
		case "options":
			var p payload.Payload
			bit, ok = fOptions, r.payload(&p)
			d.Options = json.RawMessage(p)
		case "source":
			bit, ok = fSource, r.string(&d.Source)
		case "attempts":
			if r.skipAttempts {
				bit, ok = fAttempts, r.skip(0)
			} else {
				bit, ok = fAttempts, r.attempts(&d.Attempts)
			}
		case "changeId":
			bit, ok = fChangeID, r.string(&d.ChangeID)
		case "version":
			var v int64
			bit, ok = fVersion, r.int64(&v)
			d.Version = int(v)
			ok = ok && int64(d.Version) == v
		case "taskQueue":
			bit, ok = fTaskQueue, r.string(&d.TaskQueue)
		case "parentInstanceId":
			bit, ok = fParentInstanceID, r.string(&d.ParentInstanceID)
		case "parentRunId":
			bit, ok = fParentRunID, r.string(&d.ParentRunID)
		case "parentSeq":
			bit, ok = fParentSeq, r.int64(&d.ParentSeq)
		case "purpose":
			bit, ok = fPurpose, r.string(&d.Purpose)
		case "events":
			bit, ok = fEvents, r.nested(&d.Events)
		default:
			return false
		}
		if !ok || seen&bit != 0 {
			return false
		}
		seen |= bit
		r.space()
		if r.byte('}') {
			return r.end()
		}
		if !r.byte(',') {
			return false
		}
		r.space()
	}
}

func (r *decoder) space() {
	for r.i < len(r.b) {
		switch r.b[r.i] {
		case ' ', '\t', '\n', '\r':
			r.i++
		default:
			return
		}
	}
}

func (r *decoder) byte(c byte) bool {
	if r.i < len(r.b) && r.b[r.i] == c {
		r.i++
		return true
	}
	return false
}

func (r *decoder) end() bool {
	r.space()
	return r.i == len(r.b)
}

// plainString reads a string without escapes and returns its bytes.
func (r *decoder) plainString() ([]byte, bool) {
	if !r.byte('"') {
		return nil, false
	}
	start := r.i
	for r.i < len(r.b) {
		c := r.b[r.i]
		if c == '"' {
			s := r.b[start:r.i]
			r.i++
			return s, true
		}
		if c < 0x20 || c == '\\' {
			return nil, false
		}
		r.i++
	}
	return nil, false
}

// string reads a string: the bytes themselves when they need no
// unescaping and are valid UTF-8, else what encoding/json makes of the
// token.
func (r *decoder) string(s *string) bool {
	start := r.i
	raw, ok := r.plainString()
	if ok {
		for _, c := range raw {
			if c >= utf8.RuneSelf {
				ok = utf8.Valid(raw)
				break
			}
		}
		if ok {
			*s = string(raw)
			return true
		}
	}
	r.i = start
	if r.i >= len(r.b) || r.b[r.i] != '"' || !r.skip(0) {
		return false
	}
	return json.Unmarshal(r.b[start:r.i], s) == nil
}

func (r *decoder) int64(n *int64) bool {
	start := r.i
	if r.i < len(r.b) && r.b[r.i] == '-' {
		r.i++
	}
	digits := r.i
	for r.i < len(r.b) && r.b[r.i] >= '0' && r.b[r.i] <= '9' {
		r.i++
	}
	if r.i == digits || (r.b[digits] == '0' && r.i > digits+1) {
		return false
	}
	if r.i < len(r.b) && (r.b[r.i] == '.' || r.b[r.i] == 'e' || r.b[r.i] == 'E') {
		return false
	}
	v, err := strconv.ParseInt(string(r.b[start:r.i]), 10, 64)
	*n = v
	return err == nil
}

func (r *decoder) bool(v *bool) bool {
	switch {
	case r.literal("true"):
		*v = true
	case r.literal("false"):
		*v = false
	default:
		return false
	}
	return true
}

func (r *decoder) literal(s string) bool {
	if len(r.b)-r.i >= len(s) && string(r.b[r.i:r.i+len(s)]) == s {
		r.i += len(s)
		return true
	}
	return false
}

func (r *decoder) time(t *time.Time) bool {
	start := r.i
	if _, ok := r.plainString(); !ok {
		return false
	}
	return t.UnmarshalJSON(r.b[start:r.i]) == nil
}

// payload reads any JSON value but null and a {"$base64": …} object, and
// keeps a copy of its bytes, as payload.Payload.UnmarshalJSON does.
func (r *decoder) payload(p *payload.Payload) bool {
	start := r.i
	if !r.skip(0) {
		return false
	}
	v := r.b[start:r.i]
	if string(v) == "null" || (len(v) > 0 && v[0] == '{' && hasBase64Key(v)) {
		return false
	}
	*p = append(payload.Payload(nil), v...)
	return true
}

// hasBase64Key reports whether the object v starts with the key "$base64",
// the form of a payload that is not JSON.
func hasBase64Key(v []byte) bool {
	r := decoder{b: v, i: 1}
	r.space()
	k, ok := r.plainString()
	return !ok || string(k) == "$base64"
}

// nested decodes one value into v with encoding/json.
func (r *decoder) nested(v any) bool {
	start := r.i
	if !r.skip(0) || string(r.b[start:r.i]) == "null" {
		return false
	}
	return json.Unmarshal(r.b[start:r.i], v) == nil
}

func (r *decoder) attempts(as *[]Attempt) bool {
	if !r.byte('[') {
		return false
	}
	out := make([]Attempt, 0, 1)
	r.space()
	if r.byte(']') {
		*as = out
		return true
	}
	for {
		var a Attempt
		if !r.attempt(&a) {
			return false
		}
		out = append(out, a)
		r.space()
		if r.byte(']') {
			*as = out
			return true
		}
		if !r.byte(',') {
			return false
		}
		r.space()
	}
}

func (r *decoder) attempt(a *Attempt) bool {
	if !r.byte('{') {
		return false
	}
	r.space()
	if r.byte('}') {
		return true
	}
	seen := 0
	for {
		key, ok := r.plainString()
		if !ok {
			return false
		}
		r.space()
		if !r.byte(':') {
			return false
		}
		r.space()
		var bit int
		switch string(key) {
		case "attempt":
			var n int64
			bit, ok = 1, r.int64(&n)
			a.Attempt = int(n)
			ok = ok && int64(a.Attempt) == n
		case "startedAt":
			bit, ok = 2, r.time(&a.StartedAt)
		case "endedAt":
			bit, ok = 4, r.time(&a.EndedAt)
		case "failure":
			bit = 8
			var f failure.Failure
			if ok = r.nested(&f); ok {
				a.Failure = &f
			}
		case "nextRetryAt":
			bit, ok = 16, r.time(&a.NextRetryAt)
		default:
			return false
		}
		if !ok || seen&bit != 0 {
			return false
		}
		seen |= bit
		r.space()
		if r.byte('}') {
			return true
		}
		if !r.byte(',') {
			return false
		}
		r.space()
	}
}

// skip moves past one JSON value, checking its syntax.
func (r *decoder) skip(depth int) bool {
	if r.i >= len(r.b) || depth > 512 {
		return false
	}
	switch c := r.b[r.i]; {
	case c == '"':
		r.i++
		for r.i < len(r.b) {
			c := r.b[r.i]
			r.i++
			switch {
			case c == '"':
				return true
			case c < 0x20:
				return false
			case c == '\\':
				if r.i >= len(r.b) {
					return false
				}
				e := r.b[r.i]
				r.i++
				switch e {
				case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
				case 'u':
					if len(r.b)-r.i < 4 {
						return false
					}
					for _, h := range r.b[r.i : r.i+4] {
						if !('0' <= h && h <= '9' || 'a' <= h && h <= 'f' || 'A' <= h && h <= 'F') {
							return false
						}
					}
					r.i += 4
				default:
					return false
				}
			}
		}
		return false
	case c == '{' || c == '[':
		closing := byte('}')
		if c == '[' {
			closing = ']'
		}
		r.i++
		r.space()
		if r.byte(closing) {
			return true
		}
		for {
			if c == '{' {
				if r.i >= len(r.b) || r.b[r.i] != '"' || !r.skip(depth+1) {
					return false
				}
				r.space()
				if !r.byte(':') {
					return false
				}
				r.space()
			}
			if !r.skip(depth + 1) {
				return false
			}
			r.space()
			if r.byte(closing) {
				return true
			}
			if !r.byte(',') {
				return false
			}
			r.space()
		}
	case c == '-' || (c >= '0' && c <= '9'):
		return r.number()
	case c == 't':
		return r.literal("true")
	case c == 'f':
		return r.literal("false")
	case c == 'n':
		return r.literal("null")
	}
	return false
}

// number moves past -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?.
func (r *decoder) number() bool {
	r.byte('-')
	if r.byte('0') {
		// a leading zero stands alone
	} else if !r.digits() {
		return false
	}
	if r.byte('.') && !r.digits() {
		return false
	}
	if r.byte('e') || r.byte('E') {
		if !r.byte('+') {
			r.byte('-')
		}
		if !r.digits() {
			return false
		}
	}
	return true
}

func (r *decoder) digits() bool {
	start := r.i
	for r.i < len(r.b) && r.b[r.i] >= '0' && r.b[r.i] <= '9' {
		r.i++
	}
	return r.i > start
}
