"""Infrastructure helpers: the one reader of template.yaml, local bootstrap, OpenAPI generation."""
