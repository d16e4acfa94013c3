"""JSON-schema eForms: accessible server-side HTML, parsing of posted fields, Vietnamese validation."""
