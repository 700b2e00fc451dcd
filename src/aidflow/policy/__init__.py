"""The county's policy files: standards, care visits, import mappings, target groups,
and the county directory itself."""
