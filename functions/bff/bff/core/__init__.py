"""The pure read path: sections, outcomes, deadlines, fan-out, the policy and the page service. No I/O libraries."""
