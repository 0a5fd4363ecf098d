#!/usr/bin/env python3
"""How long `authd import-django` takes: N users in a Django-shaped SQLite database (the
tables as Django 5.2's migrations create them, a profile table with a phone), imported into a
fresh authd database on SQLite and on PostgreSQL, then imported again (nothing changed).

    bench/run --django-import [--users 100000]

Writes bench/DJANGO_IMPORT.md's figures to standard output; needs target/release/authd.
"""
import argparse
import json
import os
import sqlite3
import subprocess
import tempfile
import time
import uuid

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
AUTHD = os.path.join(ROOT, "target", "release", "authd")
PG_ADMIN = os.environ.get("AUTHD_TEST_POSTGRES_URL", "postgres://postgres@127.0.0.1:5432/postgres")
# A well-formed pbkdf2_sha256 hash: the import stores it as it is and never checks it.
HASH = "pbkdf2_sha256$1000000$c2FsdHNhbHRzYWx0$ym426GBnIKFwx8NmXoFqIE5sNaCgck7c08CviW0Z+4Y="


def django_database(path, users):
    db = sqlite3.connect(path)
    db.executescript(
        """CREATE TABLE "auth_user" ("id" integer NOT NULL PRIMARY KEY AUTOINCREMENT, "password" varchar(128) NOT NULL, "last_login" datetime NULL, "is_superuser" bool NOT NULL, "username" varchar(150) NOT NULL UNIQUE, "last_name" varchar(150) NOT NULL, "email" varchar(254) NOT NULL, "is_staff" bool NOT NULL, "is_active" bool NOT NULL, "date_joined" datetime NOT NULL, "first_name" varchar(150) NOT NULL);
        CREATE TABLE "api_profile" ("id" integer NOT NULL PRIMARY KEY AUTOINCREMENT, "phone" varchar(32) NOT NULL, "user_id" integer NOT NULL UNIQUE REFERENCES "auth_user" ("id"));"""
    )
    db.executemany(
        "INSERT INTO auth_user (id, password, last_login, is_superuser, username, last_name, email,"
        " is_staff, is_active, date_joined, first_name) VALUES (?, ?, ?, 0, ?, 'Lee', ?, 0, 1,"
        " '2024-05-06 07:08:09.123456', 'Ann')",
        ((i, HASH, "2026-11-01 10:00:00", f"user{i}", f"user{i}@example.com") for i in range(1, users + 1)),
    )
    db.executemany(
        "INSERT INTO api_profile (phone, user_id) VALUES (?, ?)",
        ((f"+1 555 {i % 10000:04d}", i) for i in range(1, users + 1, 2)),
    )
    db.commit()
    db.close()


def run_import(database_url, source, workdir):
    env = {k: v for k, v in os.environ.items() if not k.startswith("AUTHD")}
    env.update(
        AUTHD_CONFIG_DIR=os.path.join(ROOT, "config"),
        AUTHD__DATABASE__URL=database_url,
        RUST_LOG="warn",
    )
    started = time.perf_counter()
    out = subprocess.run(
        [AUTHD, "import-django", "--from", f"sqlite://{source}", "--json",
         "--phone-from", "api_profile.phone"],
        env=env, cwd=workdir, capture_output=True, text=True, check=True,
    )
    return time.perf_counter() - started, json.loads(out.stdout)


def postgres_database():
    name = f"authd_bench_{uuid.uuid4().hex}"
    subprocess.run(["psql", PG_ADMIN, "-qc", f"CREATE DATABASE {name}"], check=True)
    server = PG_ADMIN.rsplit("/", 1)[0]
    return name, f"{server}/{name}"


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--users", type=int, default=100_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as work:
        source = os.path.join(work, "django.sqlite3")
        django_database(source, args.users)
        print(f"{args.users} Django users (half with a profile phone)")
        targets = [("SQLite", f"sqlite://{os.path.join(work, 'authd.db')}", None)]
        try:
            name, url = postgres_database()
            targets.append(("PostgreSQL", url, name))
        except (OSError, subprocess.CalledProcessError):
            print("PostgreSQL not reachable: SQLite only")
        print("| authd on | first import | users/s | again (unchanged) | users/s |")
        print("|---|---|---|---|---|")
        for label, url, pg_name in targets:
            first, report = run_import(url, source, work)
            assert report["created"] == args.users, report
            again, report = run_import(url, source, work)
            assert report["unchanged"] == args.users, report
            print(f"| {label} | {first:.1f} s | {args.users / first:,.0f} | {again:.1f} s | {args.users / again:,.0f} |")
            if pg_name:
                subprocess.run(["psql", PG_ADMIN, "-qc", f"DROP DATABASE {pg_name} WITH (FORCE)"], check=False)


if __name__ == "__main__":
    main()
