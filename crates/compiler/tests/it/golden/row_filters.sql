-- case: user=ana table=s.events
SELECT "id", "region", "owner", "at", "local_at" FROM "cat"."sch"."events" WHERE ("region" IN ('EU', 'ASIA')) AND (owner = 'ana' OR FALSE OR FALSE) AND ("at" >= current_timestamp - INTERVAL '30' DAY) AND ("local_at" >= localtimestamp - INTERVAL '12' HOUR) AND (bitwise_and(from_big_endian_64(xxhash64(to_utf8(CAST("id" AS varchar)))), 9223372036854775807) % 10000 < 1250)
-- columns: id bigint, region varchar, owner varchar, at timestamp(3) with time zone, local_at timestamp(3)

-- case: user=ana project=audit table=s.events
SELECT "id", "region", "owner", "at", "local_at" FROM "cat"."sch"."events" WHERE ("region" IN ('EU', 'ASIA')) AND (owner = 'ana' OR FALSE OR TRUE) AND ("at" >= current_timestamp - INTERVAL '30' DAY) AND ("local_at" >= localtimestamp - INTERVAL '12' HOUR) AND (bitwise_and(from_big_endian_64(xxhash64(to_utf8(CAST("id" AS varchar)))), 9223372036854775807) % 10000 < 1250)
-- columns: id bigint, region varchar, owner varchar, at timestamp(3) with time zone, local_at timestamp(3)

-- case: user=ben table=s.events
SELECT "id", "region", "owner", "at", "local_at" FROM "cat"."sch"."events" WHERE (owner = 'ben' OR TRUE OR FALSE) AND ("at" >= current_timestamp - INTERVAL '30' DAY) AND ("local_at" >= localtimestamp - INTERVAL '12' HOUR) AND (bitwise_and(from_big_endian_64(xxhash64(to_utf8(CAST("id" AS varchar)))), 9223372036854775807) % 10000 < 1250)
-- columns: id bigint, region varchar, owner varchar, at timestamp(3) with time zone, local_at timestamp(3)

-- case: user=nobody table=s.events
SELECT "id", "region", "owner", "at", "local_at" FROM "cat"."sch"."events" WHERE (FALSE) AND (owner = 'nobody' OR FALSE OR FALSE) AND ("at" >= current_timestamp - INTERVAL '30' DAY) AND ("local_at" >= localtimestamp - INTERVAL '12' HOUR) AND (bitwise_and(from_big_endian_64(xxhash64(to_utf8(CAST("id" AS varchar)))), 9223372036854775807) % 10000 < 1250)
-- columns: id bigint, region varchar, owner varchar, at timestamp(3) with time zone, local_at timestamp(3)

-- case: user=ana table=s.daily
SELECT "day", "region_id" FROM "cat"."sch"."daily" WHERE ((CAST(region_id AS VARCHAR)) IN ('EU', 'ASIA') OR FALSE) AND ("day" >= current_date - INTERVAL '7' DAY) AND (CAST("region_id" AS varchar) IN ('2'))
-- columns: day date, region_id integer

