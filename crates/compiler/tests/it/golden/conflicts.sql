-- case: user=ana table=s.people
SELECT CAST(regexp_replace("email", '@.*', '@***') AS varchar) AS "email", CAST(CASE WHEN length("phone") <= 2 THEN rpad('', length("phone"), '*') ELSE concat(substr("phone", 1, 0), rpad('', length("phone") - 2, '*'), substr("phone", length("phone") - 2 + 1)) END AS varchar) AS "phone", CAST('x' AS varchar) AS "ssn", CAST(round("salary", -3) AS bigint) AS "salary", "veil"."system"."hash"('default', CAST("note" AS varchar)) AS "note" FROM "cat"."sch"."people"
-- columns: email varchar, phone varchar, ssn varchar, salary bigint, note varchar

-- case: user=ben table=s.people
SELECT CAST(regexp_replace("email", '@.*', '@***') AS varchar) AS "email", CAST(CASE WHEN length("phone") <= 2 THEN rpad('', length("phone"), '*') ELSE concat(substr("phone", 1, 0), rpad('', length("phone") - 2, '*'), substr("phone", length("phone") - 2 + 1)) END AS varchar) AS "phone", CAST('x' AS varchar) AS "ssn", CAST(NULL AS bigint) AS "salary", "veil"."system"."hash"('default', CAST("note" AS varchar)) AS "note" FROM "cat"."sch"."people"
-- columns: email varchar, phone varchar, ssn varchar, salary bigint, note varchar

-- case: user=cid table=s.people
not visible

-- case: user=ana table=s.hidden
not visible

