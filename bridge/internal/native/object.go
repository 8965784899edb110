package native

import (
	"bytes"
	"encoding/json"
)

// member is one key of an ordered JSON object.
type member struct {
	key string
	val any // string, object or []object
}

// object is a JSON object whose keys keep the order they were put in, so that
// native output reads in the order of the paper document.
type object []member

func (o object) marshal() ([]byte, error) {
	var buf bytes.Buffer
	if err := o.write(&buf); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

func (o object) write(buf *bytes.Buffer) error {
	buf.WriteByte('{')
	for i, m := range o {
		if i > 0 {
			buf.WriteByte(',')
		}
		if err := writeString(buf, m.key); err != nil {
			return err
		}
		buf.WriteByte(':')
		if err := writeValue(buf, m.val); err != nil {
			return err
		}
	}
	buf.WriteByte('}')
	return nil
}

func writeValue(buf *bytes.Buffer, v any) error {
	switch v := v.(type) {
	case string:
		return writeString(buf, v)
	case object:
		return v.write(buf)
	case []object:
		buf.WriteByte('[')
		for i, o := range v {
			if i > 0 {
				buf.WriteByte(',')
			}
			if err := o.write(buf); err != nil {
				return err
			}
		}
		buf.WriteByte(']')
		return nil
	}
	b, err := json.Marshal(v)
	buf.Write(b)
	return err
}

// writeString writes a JSON string without HTML escaping, so that names like
// "A & B Limited" stay readable.
func writeString(buf *bytes.Buffer, s string) error {
	var tmp bytes.Buffer
	enc := json.NewEncoder(&tmp)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(s); err != nil {
		return err
	}
	buf.Write(bytes.TrimSuffix(tmp.Bytes(), []byte("\n")))
	return nil
}
