package httpapi

import (
	"encoding/csv"
	"net/http"
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
