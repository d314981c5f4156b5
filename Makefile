# CustomerTrack — four small programs that keep an SCD in sync with a stream.
#
# To add a tool: write src/<tool>.c (main() last), add it to TOOLS below,
# write man/<tool>.1, and add a test under tests/t/.

TOOLS = gen-customers s3-put snow-load scd-merge
VERSION = 0.1.0

PREFIX ?= /usr/local
BINDIR ?= $(PREFIX)/bin
MANDIR ?= $(PREFIX)/share/man
SHAREDIR ?= $(PREFIX)/share/customertrack
DESTDIR ?=

CC ?= cc
CFLAGS ?= -O2 -g
PKGS = libcurl libpq expat openssl odbc
PKG_CFLAGS := $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
PKG_LIBS := $(shell pkg-config --libs $(PKGS) 2>/dev/null)
override CFLAGS += -std=c11 -D_GNU_SOURCE -Wall -Wextra -Isrc/lib -Ibuild \
	-DCT_VERSION='"$(VERSION)"' $(PKG_CFLAGS)
ifdef WERROR
override CFLAGS += -Werror
endif
LDLIBS += $(PKG_LIBS) -lcsv -lpthread -lm

LIB_SRC := $(wildcard src/lib/*.c)
LIB_OBJ := $(LIB_SRC:src/lib/%.c=build/lib/%.o) build/sqlfiles.o
SQL := $(sort $(wildcard sql/postgres/*.sql sql/snowflake/*.sql))
UNIT_SRC := $(wildcard tests/unit/test_*.c)
UNIT := $(UNIT_SRC:tests/unit/%.c=build/tests/%)
BINS := $(TOOLS:%=bin/%)

all: deps-check $(BINS)

deps-check:
	@pkg-config --exists $(PKGS) && test -e /usr/include/csv.h || { \
	  echo "make: missing libraries ($(PKGS) libcsv); run tools/deps" >&2; exit 1; }

build/lib build/tests bin:
	@mkdir -p $@

build/lib/%.o: src/lib/%.c $(wildcard src/lib/*.h) | build/lib
	$(CC) $(CFLAGS) -c -o $@ $<

build/sqlfiles.c: tools/embed-sql $(SQL) | build/lib
	sh tools/embed-sql $(SQL) > $@.tmp && mv $@.tmp $@

build/sqlfiles.o: build/sqlfiles.c
	$(CC) $(CFLAGS) -c -o $@ $<

build/libct.a: $(LIB_OBJ)
	rm -f $@ && $(AR) rcs $@ $^

build/%.o: src/%.c $(wildcard src/lib/*.h) | build/lib
	$(CC) $(CFLAGS) -c -o $@ $<

bin/%: build/%.o build/libct.a | bin
	$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $< build/libct.a $(LDLIBS)

build/tests/%: tests/unit/%.c build/libct.a | build/tests
	$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $< build/libct.a $(LDLIBS) -lcmocka

unit: $(UNIT)

check: all unit
	@sh tools/deps
	@sh tests/run

demo: all
	@sh tools/deps
	@sh tools/demo

bench: all
	@sh tools/deps
	@for b in bench/*; do case $$b in *.md) continue;; esac; echo "== $$b"; sh $$b || exit 1; done

install: all
	install -d $(DESTDIR)$(BINDIR) $(DESTDIR)$(MANDIR)/man1 $(DESTDIR)$(SHAREDIR)
	install -m 755 $(BINS) $(DESTDIR)$(BINDIR)
	install -m 644 $(TOOLS:%=man/%.1) $(DESTDIR)$(MANDIR)/man1
	cp -R sql docker $(DESTDIR)$(SHAREDIR)/

uninstall:
	rm -f $(TOOLS:%=$(DESTDIR)$(BINDIR)/%) $(TOOLS:%=$(DESTDIR)$(MANDIR)/man1/%.1)
	rm -rf $(DESTDIR)$(SHAREDIR)

lint:
	mandoc -Tlint -Wwarning man/*.1

clean:
	rm -rf build bin

.PHONY: all deps-check unit check demo bench install uninstall lint clean
.SECONDARY:
