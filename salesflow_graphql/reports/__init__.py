"""Reports: PDF and XLSX generation, run as jobs, e-mailed and downloaded through signed links."""
