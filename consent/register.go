package consent

import "context"

// RegisterPurpose stores p as a new version when it changed (PutPurpose)
// and, when its notice version changed, puts the consents given under the
// old notice up for renewal (NoticeChanged): the one way the registry
// file, the admin API and the demo register a purpose. It returns the
// stored purpose, whether it is a new version, and how many records now
// await renewal.
func (s *Service) RegisterPurpose(ctx context.Context, p Purpose) (Purpose, bool, int, error) {
	old, err := s.Purpose(ctx, p.ID)
	hadOld := err == nil
	stored, err := s.PutPurpose(ctx, p)
	if err != nil {
		return Purpose{}, false, 0, err
	}
	changed := !hadOld || stored.Version != old.Version
	if hadOld && changed && stored.NoticeVersion != old.NoticeVersion {
		n, err := s.NoticeChanged(ctx, p.ID)
		return stored, changed, n, err
	}
	return stored, changed, 0, nil
}
