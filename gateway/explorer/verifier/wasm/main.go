//go:build js && wasm

// Command wasm is the explorer's verifier compiled to WebAssembly
// (GOOS=js GOARCH=wasm): it defines baybusVerify(proof, trust, render) in
// the page, which returns verifier.Check's result as JSON. proof and trust
// are Uint8Arrays (or strings); render is "", "cn", "hk" or "mo". Nothing
// it is given leaves the page. `go generate ./gateway/explorer` builds it
// into the explorer's bundle.
package main

import (
	"syscall/js"
	"time"

	"github.com/baybus/baybus/gateway/explorer/verifier"
)

func main() {
	js.Global().Set("baybusVerify", js.FuncOf(func(_ js.Value, args []js.Value) any {
		if len(args) < 2 {
			return `{"valid":false,"problem":"baybusVerify(proof, trust[, render]): two arguments at least"}`
		}
		render := ""
		if len(args) > 2 && args[2].Type() == js.TypeString {
			render = args[2].String()
		}
		return verifier.JSON(bytesOf(args[0]), bytesOf(args[1]), render, time.Now())
	}))
	js.Global().Set("baybusVerifierReady", true)
	select {} // the functions stay defined while the page lives
}

// bytesOf copies a Uint8Array, or a string's UTF-8, out of JavaScript.
func bytesOf(v js.Value) []byte {
	if v.Type() == js.TypeString {
		return []byte(v.String())
	}
	if v.Type() != js.TypeObject || v.Get("length").Type() != js.TypeNumber {
		return nil
	}
	b := make([]byte, v.Get("length").Int())
	js.CopyBytesToGo(b, v)
	return b
}
