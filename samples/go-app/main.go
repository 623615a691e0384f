// A small HTTP service in Go (standard library only). `boot` is drawn at start-up and `hits`
// counts answers: a restored process carries on both.
package main

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"log"
	"net/http"
	"sync/atomic"
)

func main() {
	token := make([]byte, 8)
	if _, err := rand.Read(token); err != nil {
		log.Fatal(err)
	}
	boot := hex.EncodeToString(token)
	var hits atomic.Int64
	http.HandleFunc("/", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprintf(w, "{\"app\": \"go\", \"boot\": %q, \"hits\": %d}\n", boot, hits.Add(1))
	})
	fmt.Printf("go-app: boot %s, listening on 8080\n", boot)
	log.Fatal(http.ListenAndServe("0.0.0.0:8080", nil))
}
