-- Helpers the mart queries share; `build_marts` runs this file before any mart.
-- Temp macros: they live on the building connection only, so the warehouse
-- catalogue holds tables, not build helpers.

-- Upper tail of the standard normal, 1 - Phi(x) for x >= 0, by Abramowitz & Stegun
-- 26.2.17 (|error| < 7.5e-8). DuckDB has no erf; the spec's p-values match to 2e-7 (§0.5).
-- The tail is computed directly, so small p-values keep their relative precision.
create or replace temp macro _as26217_poly(t) as
    t * (0.319381530 + t * (-0.356563782 + t * (1.781477937 + t * (-1.821255978 + t * 1.330274429))));
create or replace temp macro normal_upper_tail(x) as
    exp(-0.5 * x * x) / sqrt(2 * pi()) * _as26217_poly(1 / (1 + 0.2316419 * x));

-- Two-sided p-value of a standard normal test statistic z: 2 * (1 - Phi(|z|)).
create or replace temp macro two_sided_p(z) as 2 * normal_upper_tail(abs(z));
