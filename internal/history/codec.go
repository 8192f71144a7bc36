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
	seen := 0
	ok := r.object(func(key []byte) (bit int, ok bool) {
		switch string(key) {
		case "seq":
			return fSeq, r.int64(&d.Seq)
		case "name":
			return fName, r.string(&d.Name)
		case "instanceId":
			return fInstanceID, r.string(&d.InstanceID)
		case "runId":
			return fRunID, r.string(&d.RunID)
		case "input":
			return fInput, r.payload(&d.Input)
		case "result":
			return fResult, r.payload(&d.Result)
		case "failure":
			return fFailure, r.failure(&d.Failure)
		case "status":
			var s string
			ok = r.string(&s)
			d.Status = store.Status(s)
			return fStatus, ok
		case "reason":
			return fReason, r.string(&d.Reason)
		case "recursive":
			return fRecursive, r.bool(&d.Recursive)
		case "fireAt":
			return fFireAt, r.time(&d.FireAt)
		case "options":
			var p payload.Payload
			ok = r.payload(&p)
			d.Options = json.RawMessage(p)
			return fOptions, ok
		case "source":
			return fSource, r.string(&d.Source)
		case "attempts":
			if r.skipAttempts {
				return fAttempts, r.skip(0)
			}
			return fAttempts, r.attempts(&d.Attempts)
		case "changeId":
			return fChangeID, r.string(&d.ChangeID)
		case "version":
			return fVersion, r.int(&d.Version)
		case "taskQueue":
			return fTaskQueue, r.string(&d.TaskQueue)
		case "parentInstanceId":
			return fParentInstanceID, r.string(&d.ParentInstanceID)
		case "parentRunId":
			return fParentRunID, r.string(&d.ParentRunID)
		case "parentSeq":
			return fParentSeq, r.int64(&d.ParentSeq)
		case "purpose":
			return fPurpose, r.string(&d.Purpose)
		case "events":
			return fEvents, r.nested(&d.Events)
		}
		return 0, false
	}, &seen)
	return ok && r.end()
}

// object reads an object whose members field reads: field is called with
// each key, positioned at the value, and returns the key's bit in *seen
// (a key seen twice is refused) and whether it read the value.
func (r *decoder) object(field func(key []byte) (bit int, ok bool), seen *int) bool {
	if !r.byte('{') {
		return false
	}
	r.space()
	if r.byte('}') {
		return true
	}
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
		bit, ok := field(key)
		if !ok || bit == 0 || *seen&bit != 0 {
			return false
		}
		*seen |= bit
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
	seen := 0
	return r.object(func(key []byte) (int, bool) {
		switch string(key) {
		case "attempt":
			return 1, r.int(&a.Attempt)
		case "startedAt":
			return 2, r.time(&a.StartedAt)
		case "endedAt":
			return 4, r.time(&a.EndedAt)
		case "failure":
			return 8, r.failure(&a.Failure)
		case "nextRetryAt":
			return 16, r.time(&a.NextRetryAt)
		}
		return 0, false
	}, &seen)
}

// failure reads a failure (not null) with encoding/json.
func (r *decoder) failure(f **failure.Failure) bool {
	var v failure.Failure
	if !r.nested(&v) {
		return false
	}
	*f = &v
	return true
}

// int reads an integer that fits an int.
func (r *decoder) int(n *int) bool {
	var v int64
	if !r.int64(&v) || int64(int(v)) != v {
		return false
	}
	*n = int(v)
	return true
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
