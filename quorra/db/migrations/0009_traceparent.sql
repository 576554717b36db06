-- Traces: the producer's W3C traceparent (https://www.w3.org/TR/trace-context/), stored in its
-- version-00 form, so the spans of the job's enqueue, wait and runs join the producer's trace.
-- NULL: the producer sent none. Nullable with no default: existing rows are not rewritten.
ALTER TABLE quorra_jobs ADD COLUMN traceparent text
    CHECK (traceparent IS NULL OR (length(traceparent) = 55
           AND traceparent ~ '^00-[0-9a-f]{32}-[0-9a-f]{16}-[0-9a-f]{2}$'
           AND substr(traceparent, 4, 32) <> repeat('0', 32)
           AND substr(traceparent, 37, 16) <> repeat('0', 16)));
