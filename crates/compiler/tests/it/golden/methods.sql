-- case: user=ana table=s.t
SELECT "id", "veil"."system"."hash"('default', CAST("h" AS varchar)) AS "h", CAST(NULL AS decimal(12,2)) AS "n", CAST('-1' AS integer) AS "c", CAST(regexp_replace("r", '[0-9]', '#') AS varchar) AS "r", CAST(CASE WHEN length("p") <= 3 THEN rpad('', length("p"), 'x') ELSE concat(substr("p", 1, 1), rpad('', length("p") - 3, 'x'), substr("p", length("p") - 2 + 1)) END AS char(10)) AS "p", CAST(round("e", 1) AS double) AS "e", CASE WHEN id > 10 AND NOT FALSE THEN "veil"."system"."hash"('default', CAST("flag" AS varchar)) ELSE CAST("flag" AS varchar) END AS "flag", CAST((SUBSTR(w, 1, 1) || '?') AS varchar(5)) AS "w" FROM "cat"."sch"."t"
-- columns: id bigint, h varchar, n decimal(12,2), c integer, r varchar, p char(10), e double, flag varchar, w varchar(5)

-- case: user=ben table=s.t
SELECT "id", "veil"."system"."hash"('default', CAST("h" AS varchar)) AS "h", CAST(NULL AS decimal(12,2)) AS "n", CAST('-1' AS integer) AS "c", CAST(regexp_replace("r", '[0-9]', '#') AS varchar) AS "r", CAST(CASE WHEN length("p") <= 3 THEN rpad('', length("p"), 'x') ELSE concat(substr("p", 1, 1), rpad('', length("p") - 3, 'x'), substr("p", length("p") - 2 + 1)) END AS char(10)) AS "p", CAST(round("e", 1) AS double) AS "e", CASE WHEN id > 10 AND NOT TRUE THEN "veil"."system"."hash"('default', CAST("flag" AS varchar)) ELSE CAST("flag" AS varchar) END AS "flag", "w" FROM "cat"."sch"."t"
-- columns: id bigint, h varchar, n decimal(12,2), c integer, r varchar, p char(10), e double, flag varchar, w varchar(5)

-- case: user=ana table=s.dates
SELECT CAST(date_trunc('quarter', "d") AS date) AS "d", CAST(date_trunc('hour', "ts") AS timestamp(3)) AS "ts", CAST(date_trunc('minute', "tz") AS timestamp(6) with time zone) AS "tz" FROM "cat"."sch"."dates"
-- columns: d date, ts timestamp(3), tz timestamp(6) with time zone

-- case: user=ana table=s.misfits
SELECT if(FALSE, "arr") AS "arr", CAST(NULL AS bigint) AS "num", CAST(NULL AS varchar) AS "txt" FROM "cat"."sch"."misfits"
-- columns: arr array(varchar), num bigint, txt varchar

