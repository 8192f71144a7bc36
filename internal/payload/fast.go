package payload

import "strconv"

// The JSON codec's fast paths: the values workflows and activities pass
// most often (integers, plain strings, booleans) are encoded and decoded
// without reflection. Each fast path produces exactly the bytes, or the
// value, that encoding/json would; anything else (floats, escapes,
// non-ASCII text, malformed input) takes the encoding/json path, which
// also produces its errors.

// marshalFast encodes v when it is an integer, a bool or a string of
// printable ASCII that needs no escaping (or a pointer to one of those).
func marshalFast(v any) ([]byte, bool) {
	switch x := v.(type) {
	case int:
		return strconv.AppendInt(nil, int64(x), 10), true
	case int64:
		return strconv.AppendInt(nil, x, 10), true
	case int32:
		return strconv.AppendInt(nil, int64(x), 10), true
	case uint:
		return strconv.AppendUint(nil, uint64(x), 10), true
	case uint64:
		return strconv.AppendUint(nil, x, 10), true
	case uint32:
		return strconv.AppendUint(nil, uint64(x), 10), true
	case bool:
		return strconv.AppendBool(nil, x), true
	case string:
		return marshalString(x)
	case *int:
		if x != nil {
			return strconv.AppendInt(nil, int64(*x), 10), true
		}
	case *int64:
		if x != nil {
			return strconv.AppendInt(nil, *x, 10), true
		}
	case *string:
		if x != nil {
			return marshalString(*x)
		}
	case *bool:
		if x != nil {
			return strconv.AppendBool(nil, *x), true
		}
	}
	return nil, false
}

func marshalString(s string) ([]byte, bool) {
	for i := 0; i < len(s); i++ {
		if !plainByte(s[i]) || s[i] == '<' || s[i] == '>' || s[i] == '&' {
			return nil, false
		}
	}
	b := make([]byte, 0, len(s)+2)
	b = append(b, '"')
	b = append(b, s...)
	return append(b, '"'), true
}

// plainByte reports whether c stands for itself inside a JSON string.
func plainByte(c byte) bool { return c >= 0x20 && c < 0x7f && c != '"' && c != '\\' }

// unmarshalFast decodes data into v when v points to an integer, a bool or
// a string and data is a JSON number in integer form that fits, a JSON
// boolean, or a JSON string without escapes or non-ASCII bytes.
func unmarshalFast(data []byte, v any) bool {
	data = trimSpace(data)
	switch p := v.(type) {
	case *int:
		n, ok := parseInt(data, strconv.IntSize)
		if ok {
			*p = int(n)
		}
		return ok
	case *int64:
		n, ok := parseInt(data, 64)
		if ok {
			*p = n
		}
		return ok
	case *int32:
		n, ok := parseInt(data, 32)
		if ok {
			*p = int32(n)
		}
		return ok
	case *uint64:
		if !jsonInteger(data) {
			return false
		}
		n, err := strconv.ParseUint(string(data), 10, 64)
		if err == nil {
			*p = n
		}
		return err == nil
	case *bool:
		switch string(data) {
		case "true":
			*p = true
		case "false":
			*p = false
		default:
			return false
		}
		return true
	case *string:
		if len(data) < 2 || data[0] != '"' || data[len(data)-1] != '"' {
			return false
		}
		body := data[1 : len(data)-1]
		for _, c := range body {
			if !plainByte(c) {
				return false
			}
		}
		*p = string(body)
		return true
	}
	return false
}

func parseInt(data []byte, bits int) (int64, bool) {
	if !jsonInteger(data) {
		return 0, false
	}
	n, err := strconv.ParseInt(string(data), 10, bits)
	return n, err == nil
}

// jsonInteger reports whether b is a JSON number without fraction or
// exponent: -?(0|[1-9][0-9]*).
func jsonInteger(b []byte) bool {
	if len(b) > 0 && b[0] == '-' {
		b = b[1:]
	}
	if len(b) == 0 || (b[0] == '0' && len(b) > 1) {
		return false
	}
	for _, c := range b {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}

func trimSpace(b []byte) []byte {
	for len(b) > 0 && isSpace(b[0]) {
		b = b[1:]
	}
	for len(b) > 0 && isSpace(b[len(b)-1]) {
		b = b[:len(b)-1]
	}
	return b
}

func isSpace(c byte) bool { return c == ' ' || c == '\t' || c == '\n' || c == '\r' }
