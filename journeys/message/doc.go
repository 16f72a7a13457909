// Package message holds the message templates of citizen journeys: a
// subject and a body in Spanish and in English, both required, with
// {{name}} placeholders naming attributes of a rules.Catalogue.
//
// New parses the templates once, when the journey is defined, and refuses
// them — every problem at once, each naming its language — when a
// placeholder names an attribute the catalogue does not have (a missing
// variable, rules.ErrUnknownAttribute) or one whose data category the
// purpose does not cover (rules.ErrNotCovered), when a field is empty, too
// long or holds control or format characters, and when the text carries
// a link (ErrLink): a scheme such as https:, www., or a domain followed by
// a path (tramites.gub.uy/x), also in fullwidth or look-alike forms.
// Government messages never carry links: citizens are told never to follow
// one, so a message with a link is indistinguishable from phishing.
//
// Render fills a template with one citizen's values: no parsing, no
// reflection, no panic. It checks the rendered text for links again, so
// that a value cannot complete one, and refuses to render with a value
// missing (ErrMissingValue) rather than send a message with a hole.
package message
