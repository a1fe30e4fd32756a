-- Mart layer: derived tables, each rebuilt atomically by `assets.marts.build_marts`.
create schema if not exists mart;
