"""Who must take a URL down: DNS, RDAP, registrar, CDN and upstream resolution."""
