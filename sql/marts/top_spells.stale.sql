spell_end >= getvariable('since_week') - 7
