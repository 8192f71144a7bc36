package names

import (
	"context"
	"strings"
	"testing"
)

type svc struct{ id string }

func (s *svc) Do(context.Context, int) (int, error) { return 0, nil }

func plain(context.Context, int) (int, error) { return 0, nil }

func TestNames(t *testing.T) {
	if n, err := Of(plain); err != nil || n != "plain" {
		t.Fatalf("bare name %q, %v", n, err)
	}
	Remember(plain, "plain_activity")
	if n, _ := Of(plain); n != "plain_activity" {
		t.Fatalf("registered name %q", n)
	}
	a, b := &svc{"a"}, &svc{"b"}
	Remember(a.Do, "DoA")
	if n, _ := Of(a.Do); n != "DoA" {
		t.Fatalf("method value name %q", n)
	}
	Remember(b.Do, "DoB")
	if _, err := Of(a.Do); err == nil || !strings.Contains(err.Error(), "DoA, DoB") {
		t.Fatalf("ambiguous method values: %v", err)
	}
	Remember(plain, "plain")
	if n, err := Of(plain); err != nil || n != "plain" {
		t.Fatalf("own name plus an alias: %q, %v", n, err)
	}
	if _, err := Bare(func() {}); err == nil {
		t.Fatal("anonymous functions have no name")
	}
}
