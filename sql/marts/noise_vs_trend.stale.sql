week_start >= getvariable('since_week') - 7
