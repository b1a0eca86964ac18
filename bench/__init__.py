"""The benchmark harness of issue 6: pxeimport against the 2012 script and plain curl, on nginx."""
