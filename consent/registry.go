package consent

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"
)

// purposeFile is the YAML form of a purpose in a registry file.
type purposeFile struct {
	ID            string     `yaml:"id"`
	Name          textFile   `yaml:"name"`
	Description   textFile   `yaml:"description"`
	Controller    string     `yaml:"controller"`
	LegalBasis    LegalBasis `yaml:"legal_basis"`
	Categories    []string   `yaml:"categories"`
	Retention     string     `yaml:"retention"`
	DPV           string     `yaml:"dpv"`
	NoticeVersion string     `yaml:"notice_version"`
	NoticeURL     string     `yaml:"notice_url"`
	Profiling     bool       `yaml:"profiling"`
}

type textFile struct {
	ES string `yaml:"es"`
	EN string `yaml:"en"`
}

// maxRegistry bounds the size of a registry file.
const maxRegistry = 4 << 20

// ParseRegistry reads a purpose registry: a YAML list of purposes, each
//
//   - id: tax-reminders
//     name: {es: Recordatorios de impuestos, en: Tax reminders}
//     description: {es: "…", en: "…"}
//     controller: dgi-portal          # the agency's OIDC client ID
//     legal_basis: consent            # or contract, legal_obligation, vital_interest, public_task, legitimate_interest
//     categories: [identity, contact]
//     retention: 365d                 # a Go duration or whole days "Nd"; omitted or 0: no expiry
//     dpv: dpv:ServiceProvision
//     notice_version: "2026-01"
//     notice_url: https://dgi.example.gub.uy/privacidad
//     profiling: false
//
// Unknown fields are refused. It checks every purpose (Purpose.Validate)
// and that no ID appears twice, and reports every problem at once, wrapped
// in ErrInvalid. The purposes come back without versions: Service.PutPurpose
// stores each as a new version when it differs from the latest.
func ParseRegistry(r io.Reader) ([]Purpose, error) {
	data, err := io.ReadAll(io.LimitReader(r, maxRegistry+1))
	if err != nil {
		return nil, fmt.Errorf("consent: read registry: %w", err)
	}
	if len(data) > maxRegistry {
		return nil, invalid("registry", fmt.Sprintf("larger than %d bytes", maxRegistry))
	}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	var files []purposeFile
	if err := dec.Decode(&files); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, invalid("registry", "empty document (write [] for a registry without purposes)")
		}
		return nil, invalid("registry", yamlProblem(err))
	}
	var problems []string
	out := make([]Purpose, 0, len(files))
	seen := make(map[string]int, len(files))
	for i, f := range files {
		where := fmt.Sprintf("purpose %d (%.80q)", i+1, f.ID)
		retention, err := ParseRetention(f.Retention)
		if err != nil {
			problems = append(problems, fmt.Sprintf("%s: %v", where, err))
		}
		p := Purpose{
			ID:            f.ID,
			Name:          Text{ES: f.Name.ES, EN: f.Name.EN},
			Description:   Text{ES: f.Description.ES, EN: f.Description.EN},
			Controller:    f.Controller,
			LegalBasis:    f.LegalBasis,
			Categories:    f.Categories,
			Retention:     retention,
			DPV:           f.DPV,
			NoticeVersion: f.NoticeVersion,
			NoticeURL:     f.NoticeURL,
			Profiling:     f.Profiling,
		}
		var ie *InvalidError
		if err := p.Validate(); errors.As(err, &ie) {
			problems = append(problems, fmt.Sprintf("%s: %s", where, strings.Join(ie.Problems, "; ")))
		} else if err != nil {
			problems = append(problems, fmt.Sprintf("%s: %v", where, err))
		}
		if j, dup := seen[f.ID]; dup && f.ID != "" {
			problems = append(problems, fmt.Sprintf("%s: id already used by purpose %d", where, j))
		}
		seen[f.ID] = i + 1
		out = append(out, p)
	}
	if len(problems) > 0 {
		return nil, invalid("registry", problems...)
	}
	return out, nil
}

// ParseRetention parses a retention period: "" or "0" for none, a Go
// duration ("720h"), or a whole number of days ("365d"). Negative values
// are refused.
func ParseRetention(s string) (time.Duration, error) {
	if s == "" || s == "0" {
		return 0, nil
	}
	var d time.Duration
	if days, ok := strings.CutSuffix(s, "d"); ok {
		n, err := strconv.ParseInt(days, 10, 64)
		if err != nil || n < 0 || n > 100*366 {
			return 0, fmt.Errorf("retention %.40q is not a number of days between 0 and 36600", s)
		}
		d = time.Duration(n) * 24 * time.Hour
	} else {
		var err error
		if d, err = time.ParseDuration(s); err != nil {
			return 0, fmt.Errorf("retention %.40q is neither a duration (720h) nor days (365d)", s)
		}
	}
	if d < 0 {
		return 0, fmt.Errorf("retention %.40q is negative", s)
	}
	return d, nil
}

// yamlProblem describes a YAML decoding error by line, without the Go
// type names yaml.v3 puts in it.
func yamlProblem(err error) string {
	var te *yaml.TypeError
	msgs := []string{strings.TrimPrefix(err.Error(), "yaml: ")}
	if errors.As(err, &te) {
		msgs = te.Errors
	}
	for i, m := range msgs {
		if j := strings.Index(m, " in type "); j >= 0 {
			m = m[:j]
		}
		msgs[i] = strings.ReplaceAll(m, "consent.", "")
	}
	return strings.Join(msgs, "; ")
}
