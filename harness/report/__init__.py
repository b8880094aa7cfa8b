"""Stage 7 -- report: REPORT.md, results.json and figures."""
