package app

import (
	"context"
	"fmt"

	"github.com/cedula/cedula/audit"
	"github.com/cedula/cedula/consent"
)

// consentEntry finds the audit entry of a consent change by its record
// reference among the subject's entries, newest first, once the outbox has
// been sequenced.
func (s *Server) consentEntry(ctx context.Context, subject, record string) (int64, audit.Hash, error) {
	if err := s.Audit.Flush(ctx); err != nil {
		return 0, audit.Hash{}, err
	}
	for after := int64(0); ; {
		recs, next, err := s.Audit.EntriesAbout(ctx, subject, after, audit.MaxEntries)
		if err != nil {
			return 0, audit.Hash{}, err
		}
		for _, rec := range recs {
			e, err := rec.Entry()
			if err == nil && e.ConsentRecord == record && e.Action != consent.ActionDecide {
				return rec.Index, rec.LeafHash(), nil
			}
		}
		if next == 0 {
			return 0, audit.Hash{}, fmt.Errorf("audit entry of consent change %s not found", record)
		}
		after = next
	}
}
