package wechat

import (
	"bytes"
	"encoding/xml"
	"sync"
)

// xmlEncoder is an encoder kept for reuse with the buffer it writes to. xml.Marshal makes a
// new encoder, with a 4 KiB write buffer, for every call: on a busy callback (two documents
// per push, the reply and its sealed envelope) that was most of the garbage.
type xmlEncoder struct {
	buf bytes.Buffer
	enc *xml.Encoder
}

var xmlEncoders = sync.Pool{New: func() any {
	e := &xmlEncoder{}
	e.enc = xml.NewEncoder(&e.buf)
	return e
}}

// marshalXML is xml.Marshal (the same bytes) with a reused encoder. An encoder whose Encode
// failed may hold half an element and is not reused.
func marshalXML(v any) ([]byte, error) {
	e := xmlEncoders.Get().(*xmlEncoder)
	e.buf.Reset()
	if err := e.enc.Encode(v); err != nil {
		return nil, err
	}
	out := bytes.Clone(e.buf.Bytes())
	xmlEncoders.Put(e)
	return out, nil
}
