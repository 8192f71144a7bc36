// Package payload holds the codec that turns workflow and activity values
// into bytes, and the Payload type that keeps encoded values readable in
// history JSON.
package payload

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
)

// Codec encodes and decodes payloads. The default is JSON.
type Codec interface {
	Marshal(v any) ([]byte, error)
	Unmarshal(data []byte, v any) error
}

// JSON is the default codec.
type JSON struct{}

// Marshal encodes v as JSON.
func (JSON) Marshal(v any) ([]byte, error) {
	if b, ok := marshalFast(v); ok {
		return b, nil
	}
	return json.Marshal(v)
}

// Unmarshal decodes JSON into v; empty data leaves v unchanged.
func (JSON) Unmarshal(data []byte, v any) error {
	if len(data) == 0 {
		return nil
	}
	if unmarshalFast(data, v) {
		return nil
	}
	return json.Unmarshal(data, v)
}

// Default is the codec used when none is configured.
var Default Codec = JSON{}

// Encode marshals v with c, returning nil for a nil v.
func Encode(c Codec, v any) ([]byte, error) {
	if v == nil {
		return nil, nil
	}
	if p, ok := v.(Payload); ok {
		return p, nil
	}
	b, err := c.Marshal(v)
	if err != nil {
		return nil, fmt.Errorf("encode %T: %w", v, err)
	}
	return b, nil
}

// Decode unmarshals data into v with c; empty data leaves v at its zero value.
func Decode(c Codec, data []byte, v any) error {
	if len(data) == 0 {
		return nil
	}
	if err := c.Unmarshal(data, v); err != nil {
		return fmt.Errorf("decode %T: %w", v, err)
	}
	return nil
}

// Payload is an encoded value. In JSON documents it appears as the value
// itself when it is JSON, else as {"$base64": "..."}.
type Payload []byte

// MarshalJSON implements json.Marshaler.
func (p Payload) MarshalJSON() ([]byte, error) {
	if len(p) == 0 {
		return []byte("null"), nil
	}
	if json.Valid(p) {
		return p, nil
	}
	return json.Marshal(map[string]string{"$base64": base64.StdEncoding.EncodeToString(p)})
}

// UnmarshalJSON implements json.Unmarshaler.
func (p *Payload) UnmarshalJSON(b []byte) error {
	if bytes.Equal(b, []byte("null")) {
		*p = nil
		return nil
	}
	if bytes.HasPrefix(bytes.TrimSpace(b), []byte(`{"$base64"`)) {
		var m map[string]string
		if err := json.Unmarshal(b, &m); err == nil {
			if s, ok := m["$base64"]; ok && len(m) == 1 {
				d, err := base64.StdEncoding.DecodeString(s)
				if err != nil {
					return err
				}
				*p = d
				return nil
			}
		}
	}
	*p = append((*p)[:0], b...)
	return nil
}
