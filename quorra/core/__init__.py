"""Pure domain: job types, limits, validation, errors. No I/O, no third-party I/O libraries."""
