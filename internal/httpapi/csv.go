package httpapi

import (
	"encoding/csv"
	"net/http"

	"github.com/cedula/cedula/internal/jose"
	"github.com/cedula/cedula/internal/keys"
)

// WantsCSV reads ?format=: json (the default) or csv; anything else is a
// 400 problem.
func WantsCSV(c Context) (bool, error) {
	switch c.QueryParam("format") {
	case "", "json":
		return false, nil
	case "csv":
		return true, nil
	}
	return false, BadRequest("format must be json or csv")
}

// CSV answers a header and rows as text/csv (RFC 4180), as a download
// named name.
func CSV(c Context, name string, header []string, rows [][]string) error {
	h := c.Response().Header()
	h.Set("Content-Type", "text/csv; charset=utf-8")
	h.Set("Content-Disposition", `attachment; filename="`+name+`"`)
	h.Set("Cache-Control", "no-store")
	c.Response().WriteHeader(http.StatusOK)
	w := csv.NewWriter(c.Response())
	w.Write(header)
	w.WriteAll(rows)
	return w.Error()
}

// JSON answers v with status, never cached (the APIs' answers are about
// people and change).
func JSON(c Context, status int, v any) error {
	c.Response().Header().Set("Cache-Control", "no-store")
	return c.JSON(status, v)
}

// KeySet serves the public keys of ring as a JWK Set (RFC 7517), making
// the ring's first ES256 key if it has none yet: the keys that verify
// receipts and exports signed with it.
func KeySet(km keys.Manager, ring string) HandlerFunc {
	return func(c Context) error {
		ctx := c.Request().Context()
		if _, err := km.Active(ctx, ring, keys.ES256); err != nil {
			return err
		}
		pubs, err := km.Verification(ctx, ring)
		if err != nil {
			return err
		}
		b, err := jose.JWKS(pubs...)
		if err != nil {
			return err
		}
		c.Response().Header().Set("Cache-Control", "max-age=300")
		return c.Blob(http.StatusOK, "application/jwk-set+json", b)
	}
}
