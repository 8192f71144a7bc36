package server

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/perdure/perdure"
	"github.com/perdure/perdure/store/memstore"
)

// Every native route is in the OpenAPI document, and every documented
// operation is a route.
func TestOpenAPIDocumentsEveryRoute(t *testing.T) {
	st := memstore.New()
	defer st.Close()
	c, err := perdure.NewClient(perdure.Options{Store: st})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	s, err := New(Config{Client: c})
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Paths map[string]map[string]json.RawMessage `json:"paths"`
	}
	if err := json.Unmarshal(openAPIDoc, &doc); err != nil {
		t.Fatalf("openapi.json: %v", err)
	}
	documented := map[string]bool{}
	for path, ops := range doc.Paths {
		for method := range ops {
			if method != "parameters" {
				documented[strings.ToUpper(method)+" "+path] = true
			}
		}
	}
	routes := map[string]bool{"GET /healthz": true}
	for _, rt := range s.routes {
		if strings.HasPrefix(rt.path, "/api/") {
			routes[rt.method+" "+rt.path] = true
		}
	}
	for r := range routes {
		if !documented[r] {
			t.Errorf("route %s is not in openapi.json", r)
		}
	}
	for d := range documented {
		if !routes[d] {
			t.Errorf("openapi.json documents %s, which is not a route", d)
		}
	}
}
