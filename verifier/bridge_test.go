package verifier

import (
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"
)

// TestReadClaimsParam: what the parameter asks, and what it may not.
func TestReadClaimsParam(t *testing.T) {
	els, err := readClaimsParam([]byte(`{"id_token":{"verified_claims":[{"verification":{"trust_framework":null},"claims":{"b":null,"a":{"essential":true}}},
		{"verification":{"time":{"max_age":60}},"claims":{}}],"email":null},"userinfo":{"name":null},"unknown":{"x":1}}`))
	if err != nil {
		t.Fatal(err)
	}
	if len(els) != 2 || els[0].target != TargetIDToken || !reflect.DeepEqual(els[0].names, []string{"a", "b"}) || len(els[1].names) != 0 {
		t.Errorf("elements: %+v", els)
	}
	if els, err := readClaimsParam([]byte(`{"userinfo":{"email":null}}`)); err != nil || els != nil {
		t.Errorf("no verified claims: %v %v", els, err)
	}
	for name, bad := range map[string]string{
		"not an object":           `[1]`,
		"id_token not an object":  `{"id_token":3}`,
		"element not an object":   `{"id_token":{"verified_claims":"x"}}`,
		"no verification":         `{"id_token":{"verified_claims":{"claims":{"a":null}}}}`,
		"verification not object": `{"id_token":{"verified_claims":{"verification":[],"claims":{"a":null}}}}`,
		"no claims":               `{"id_token":{"verified_claims":{"verification":{}}}}`,
		"claim not an object":     `{"id_token":{"verified_claims":{"verification":{},"claims":{"a":1}}}}`,
		"a sub-claim":             `{"id_token":{"verified_claims":{"verification":{},"claims":{"address":{"country":null}}}}}`,
		"essential not boolean":   `{"id_token":{"verified_claims":{"verification":{},"claims":{"a":{"essential":"yes"}}}}}`,
		"values not an array":     `{"id_token":{"verified_claims":{"verification":{},"claims":{"a":{"values":"x"}}}}}`,
		"negative max_age":        `{"id_token":{"verified_claims":{"verification":{"time":{"max_age":-1}},"claims":{}}}}`,
		"evidence type by values": `{"id_token":{"verified_claims":{"verification":{"evidence":[{"type":{"values":["x"]}}]},"claims":{}}}}`,
		"evidence without type":   `{"id_token":{"verified_claims":{"verification":{"evidence":[{"record":null}]},"claims":{}}}}`,
		"evidence empty":          `{"id_token":{"verified_claims":{"verification":{"evidence":[]},"claims":{}}}}`,
		"a member a number":       `{"id_token":{"verified_claims":{"verification":{"trust_framework":7},"claims":{}}}}`,
		"empty claim name":        `{"id_token":{"verified_claims":{"verification":{},"claims":{"":null}}}}`,
		"too many elements":       `{"id_token":{"verified_claims":[` + strings.Repeat(`{"verification":{},"claims":{}},`, maxVerifiedElements) + `{"verification":{},"claims":{}}]}}`,
		"too deep":                `{"id_token":{"verified_claims":{"verification":{"a":{"b":{"c":{"d":{"e":{"f":{"g":{"h":null}}}}}}}},"claims":{}}}}`,
	} {
		if _, err := readClaimsParam([]byte(bad)); !errors.Is(err, ErrClaimsRequest) {
			t.Errorf("%s: %v, want ErrClaimsRequest", name, err)
		}
	}
}

// TestProject: only what is asked of the verification, its constraints
// met or the element dropped (IDA §5.4, §5.5, §5.7.4).
func TestProject(t *testing.T) {
	now := time.Date(2026, 12, 6, 12, 0, 0, 0, time.UTC)
	have := map[string]any{
		"trust_framework": "https://cedula.example/tf", "time": "2026-12-06T11:59:00Z", "verification_process": "req-1",
		"evidence": []any{map[string]any{"type": "electronic_record",
			"check_details": []any{map[string]any{"check_method": "vcrypt", "time": "2026-12-06T11:59:00Z"}, map[string]any{"check_method": "data", "organization": "https://iss"}},
			"record":        map[string]any{"type": "https://iss/vct/pid/1", "source": map[string]any{"name": "https://iss"}, "date_of_expiry": "2027-01-01"}}},
	}
	for _, tc := range []struct {
		name, req string
		want      string // JSON, "" for a dropped element
	}{
		{"nothing asked: the trust framework alone", `{}`, `{"trust_framework":"https://cedula.example/tf"}`},
		{"time", `{"time":null}`, `{"trust_framework":"https://cedula.example/tf","time":"2026-12-06T11:59:00Z"}`},
		{"time recent enough", `{"time":{"max_age":120}}`, `{"trust_framework":"https://cedula.example/tf","time":"2026-12-06T11:59:00Z"}`},
		{"time too old", `{"time":{"max_age":30}}`, ``},
		{"trust framework matches", `{"trust_framework":{"values":["x","https://cedula.example/tf"]}}`, `{"trust_framework":"https://cedula.example/tf"}`},
		{"trust framework does not", `{"trust_framework":{"value":"eidas"}}`, ``},
		{"a constrained member lacking", `{"assurance_level":{"value":"high"}}`, ``},
		{"a member lacking, unconstrained", `{"assurance_level":null}`, `{"trust_framework":"https://cedula.example/tf"}`},
		{"evidence whole", `{"evidence":[{"type":{"value":"electronic_record"}}]}`,
			`{"trust_framework":"https://cedula.example/tf","evidence":[{"type":"electronic_record"}]}`},
		{"evidence of another type", `{"evidence":[{"type":{"value":"document"}}]}`, ``},
		{"evidence, either type", `{"evidence":[{"type":{"value":"document"}},{"type":{"value":"electronic_record"},"record":{"type":null}}]}`,
			`{"trust_framework":"https://cedula.example/tf","evidence":[{"type":"electronic_record","record":{"type":"https://iss/vct/pid/1"}}]}`},
		{"record's source and expiry", `{"evidence":[{"type":{"value":"electronic_record"},"record":{"source":null,"date_of_expiry":{"max_age":0}}}]}`,
			`{"trust_framework":"https://cedula.example/tf","evidence":[{"type":"electronic_record","record":{"type":"https://iss/vct/pid/1","source":{"name":"https://iss"},"date_of_expiry":"2027-01-01"}}]}`},
		{"checks filtered", `{"evidence":[{"type":{"value":"electronic_record"},"check_details":[{"check_method":{"value":"data"},"organization":null}]}]}`,
			`{"trust_framework":"https://cedula.example/tf","evidence":[{"type":"electronic_record","check_details":[{"check_method":"data","organization":"https://iss"}]}]}`},
		{"no check of the method asked", `{"evidence":[{"type":{"value":"electronic_record"},"check_details":[{"check_method":{"value":"vpip"}}]}]}`, ``},
	} {
		var req map[string]json.RawMessage
		if err := json.Unmarshal([]byte(tc.req), &req); err != nil {
			t.Fatal(err)
		}
		got, ok := project(have, req, now)
		if tc.want == "" {
			if ok {
				t.Errorf("%s: %v, want the element dropped", tc.name, got)
			}
			continue
		}
		var want map[string]any
		json.Unmarshal([]byte(tc.want), &want)
		if !ok || !sameJSON(got, want) {
			b, _ := json.Marshal(got)
			t.Errorf("%s: %s (%v), want %s", tc.name, b, ok, tc.want)
		}
	}
}

func TestMeets(t *testing.T) {
	now := time.Date(2026, 12, 6, 12, 0, 0, 0, time.UTC)
	c := func(s string) map[string]json.RawMessage {
		var m map[string]json.RawMessage
		json.Unmarshal([]byte(s), &m)
		return m
	}
	for _, tc := range []struct {
		v    any
		c    string
		want bool
	}{
		{true, `{"value":true}`, true},
		{true, `{"value":false}`, false},
		{"Ana", `{"values":["Ana","Bea"]}`, true},
		{"Eva", `{"values":["Ana","Bea"]}`, false},
		{3.0, `{"value":3}`, true},
		{"2026-12-05", `{"max_age":86400}`, true},  // the date's last second is 12 h ago
		{"2026-12-04", `{"max_age":86400}`, false}, // 36 h
		{"not a time", `{"max_age":86400}`, false}, // not a date
		{"Ana", `{"essential":true}`, true},
	} {
		if got := meets(tc.v, c(tc.c), now); got != tc.want {
			t.Errorf("meets(%v, %s) = %v, want %v", tc.v, tc.c, got, tc.want)
		}
	}
}

// FuzzClaimsParam: any claims parameter is read without panicking, and
// what is read shapes an answer without panicking either.
func FuzzClaimsParam(f *testing.F) {
	for _, s := range []string{
		`{"id_token":{"verified_claims":{"verification":{"trust_framework":null,"time":{"max_age":60},"evidence":[{"type":{"value":"electronic_record"},"check_details":[{"check_method":{"value":"vcrypt"}}],"record":{"type":null}}]},"claims":{"given_name":null,"age_over_18":{"value":true}}}}}`,
		`{"userinfo":{"verified_claims":[{"verification":{"trust_framework":{"values":["a","b"]}},"claims":{}}]}}`,
		`{"id_token":{"verified_claims":{"verification":{},"claims":{"a":{"essential":true,"purpose":"x"}}}}}`,
		`{}`, `null`, `[]`, `{"id_token":null}`,
	} {
		f.Add([]byte(s))
	}
	s := &Service{settings: Settings{TrustFramework: "https://cedula.example/tf"}}
	now := time.Now().UTC()
	f.Fuzz(func(t *testing.T, data []byte) {
		els, err := readClaimsParam(data)
		if err != nil {
			if !errors.Is(err, ErrClaimsRequest) {
				t.Fatalf("an error that is not ErrClaimsRequest: %v", err)
			}
			return
		}
		for _, el := range els {
			claims := map[string]any{}
			for _, n := range el.names {
				claims[n] = "x"
			}
			a := BridgeAsk{Target: el.target, QueryID: "vc0", VCT: "https://iss/vct/t", Verification: el.verification, Claims: el.claims}
			r := Request{ID: "r", Answered: now}
			res := &Result{Credentials: []Presented{{QueryID: "vc0", VCT: a.VCT, Issuer: "https://iss", Claims: claims}}}
			if out := s.verifiedElement(a, r, res, now); out != nil {
				if _, err := json.Marshal(out); err != nil {
					t.Fatalf("an answer that is not JSON: %v", err)
				}
				if v, _ := out["verification"].(map[string]any); v["trust_framework"] != "https://cedula.example/tf" {
					t.Fatalf("an answer without its trust framework: %v", out)
				}
			}
		}
	})
}
