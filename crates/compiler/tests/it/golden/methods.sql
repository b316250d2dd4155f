-- case: user=ana table=s.t
SELECT "id", CAST("veil"."system"."hash"('default', CAST("h" AS varchar)) AS varchar(20)) AS "h", CAST(NULL AS decimal(12,2)) AS "n", CAST('-1' AS integer) AS "c", CAST(regexp_replace("r", '[0-9]', '#') AS varchar) AS "r", CAST(CASE WHEN length("p") <= 3 THEN rpad('', length("p"), 'x') ELSE concat(substr("p", 1, 1), rpad('', length("p") - 3, 'x'), substr("p", length("p") - 2 + 1)) END AS char(10)) AS "p", CAST(round("e", 1) AS double) AS "e", CASE WHEN id > 10 AND NOT FALSE THEN CAST(NULL AS boolean) ELSE "flag" END AS "flag", CAST((SUBSTR(w, 1, 1) || '?') AS varchar(5)) AS "w" FROM "cat"."sch"."t"
-- columns: id bigint, h varchar(20), n decimal(12,2), c integer, r varchar, p char(10), e double, flag boolean, w varchar(5)

-- case: user=ben table=s.t
SELECT "id", CAST("veil"."system"."hash"('default', CAST("h" AS varchar)) AS varchar(20)) AS "h", CAST(NULL AS decimal(12,2)) AS "n", CAST('-1' AS integer) AS "c", CAST(regexp_replace("r", '[0-9]', '#') AS varchar) AS "r", CAST(CASE WHEN length("p") <= 3 THEN rpad('', length("p"), 'x') ELSE concat(substr("p", 1, 1), rpad('', length("p") - 3, 'x'), substr("p", length("p") - 2 + 1)) END AS char(10)) AS "p", CAST(round("e", 1) AS double) AS "e", CASE WHEN id > 10 AND NOT TRUE THEN CAST(NULL AS boolean) ELSE "flag" END AS "flag", "w" FROM "cat"."sch"."t"
-- columns: id bigint, h varchar(20), n decimal(12,2), c integer, r varchar, p char(10), e double, flag boolean, w varchar(5)

-- case: user=ana table=s.dates
SELECT CAST(date_trunc('quarter', "d") AS date) AS "d", CAST(date_trunc('hour', "ts") AS timestamp(3)) AS "ts", CAST(date_trunc('minute', "tz") AS timestamp(6) with time zone) AS "tz" FROM "cat"."sch"."dates"
-- columns: d date, ts timestamp(3), tz timestamp(6) with time zone

-- case: user=ana table=s.misfits
SELECT if(FALSE, "arr") AS "arr", CAST(NULL AS bigint) AS "num", CAST(NULL AS varchar) AS "txt", from_big_endian_64(from_hex(substr("veil"."system"."hash"('default', CAST("key" AS varchar)), 1, 16))) AS "key", CAST("veil"."system"."hash"('default', CAST("code" AS varchar)) AS char(4)) AS "code" FROM "cat"."sch"."misfits"
-- columns: arr array(varchar), num bigint, txt varchar, key bigint, code char(4)

