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
override CFLAGS += -std=c11 -D_GNU_SOURCE -Wall -Wextra -Isrc/lib \
	-DCT_VERSION='"$(VERSION)"' $(PKG_CFLAGS)
ifdef WERROR
override CFLAGS += -Werror
endif
LDLIBS += $(PKG_LIBS) -lcsv -lpthread -lm

# BUILD and BIN may point elsewhere, so that several work trees' builds
# never write the same files (make BUILD=/tmp/b BIN=/tmp/b/bin).
BUILD ?= build
BIN ?= bin
LIB_SRC := $(wildcard src/lib/*.c)
LIB_OBJ := $(LIB_SRC:src/lib/%.c=$(BUILD)/lib/%.o) $(BUILD)/sqlfiles.o
SQL := $(sort $(wildcard sql/postgres/*.sql sql/snowflake/*.sql))
UNIT_SRC := $(wildcard tests/unit/test_*.c)
UNIT := $(UNIT_SRC:tests/unit/%.c=$(BUILD)/tests/%)
FUZZ_SRC := $(wildcard tests/fuzz/fuzz_*.c)
FUZZ := $(FUZZ_SRC:tests/fuzz/%.c=$(BUILD)/fuzz/%)
BINS := $(TOOLS:%=$(BIN)/%)

all: deps-check $(BINS)

deps-check:
	@pkg-config --exists $(PKGS) && test -e /usr/include/csv.h || { \
	  echo "make: missing libraries ($(PKGS) libcsv); run tools/deps" >&2; exit 1; }

$(BUILD)/lib $(BUILD)/tests $(BUILD)/fuzz $(BIN):
	@mkdir -p $@

$(BUILD)/lib/%.o: src/lib/%.c $(wildcard src/lib/*.h) | $(BUILD)/lib
	$(CC) $(CFLAGS) -c -o $@ $<

$(BUILD)/sqlfiles.c: tools/embed-sql $(SQL) | $(BUILD)/lib
	sh tools/embed-sql $(SQL) > $@.tmp && mv $@.tmp $@

$(BUILD)/sqlfiles.o: $(BUILD)/sqlfiles.c
	$(CC) $(CFLAGS) -c -o $@ $<

$(BUILD)/libct.a: $(LIB_OBJ)
	rm -f $@ && $(AR) rcs $@ $^

$(BUILD)/%.o: src/%.c $(wildcard src/lib/*.h) | $(BUILD)/lib
	$(CC) $(CFLAGS) -c -o $@ $<

$(BIN)/%: $(BUILD)/%.o $(BUILD)/libct.a | $(BIN)
	$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $< $(BUILD)/libct.a $(LDLIBS)

$(BUILD)/tests/%: tests/unit/%.c $(BUILD)/libct.a | $(BUILD)/tests
	$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $< $(BUILD)/libct.a $(LDLIBS) -lcmocka

unit: $(UNIT)

# libFuzzer targets, built with clang from the library's sources.
FUZZFLAGS = -g -O1 -fsanitize=fuzzer,address,undefined -std=c11 -D_GNU_SOURCE \
	-Isrc/lib -DCT_VERSION='"$(VERSION)"' $(PKG_CFLAGS)
fuzz: $(FUZZ)

$(BUILD)/fuzz/%: tests/fuzz/%.c $(LIB_SRC) $(BUILD)/sqlfiles.c | $(BUILD)/fuzz
	clang $(FUZZFLAGS) -o $@ $< $(LIB_SRC) $(BUILD)/sqlfiles.c $(LDLIBS)

check:
	@sh tools/deps
	@$(MAKE) -s all unit fuzz
	@CT_BIN=$(abspath $(BIN)) CT_BUILD=$(abspath $(BUILD)) sh tests/run

demo:
	@sh tools/deps
	@$(MAKE) -s all
	@CT_BIN=$(abspath $(BIN)) sh tools/demo

bench:
	@sh tools/deps bench
	@$(MAKE) -s all
	@for b in bench/*; do case $$b in *.md) continue;; esac; echo "== $$b"; sh $$b || exit 1; done

install: all
	install -d $(DESTDIR)$(BINDIR) $(DESTDIR)$(MANDIR)/man1 $(DESTDIR)$(SHAREDIR)
	install -m 755 $(BINS) $(DESTDIR)$(BINDIR)
	install -m 644 $(TOOLS:%=man/%.1) $(DESTDIR)$(MANDIR)/man1
	cp -R sql docker deploy $(DESTDIR)$(SHAREDIR)/

uninstall:
	rm -f $(TOOLS:%=$(DESTDIR)$(BINDIR)/%) $(TOOLS:%=$(DESTDIR)$(MANDIR)/man1/%.1)
	rm -rf $(DESTDIR)$(SHAREDIR)

lint:
	mandoc -Tlint -Wwarning man/*.1

clean:
	rm -rf $(BUILD) $(BIN)

.PHONY: all deps-check unit fuzz check demo bench install uninstall lint clean
.SECONDARY:
