#!/usr/bin/perl
# tests/emu/cu2cc.pl - turn a .cu file into C++ for kernel_emu.h:
#
#   perl tests/emu/cu2cc.pl layers/x.cu <layers/x.cu >x.cc
#
# Every launch `name<<<cfg>>>(` becomes `pp_emu_launch(name, cfg)(`, also
# across lines and backslash continuations (launches inside macros);
# comments, strings and everything else pass through untouched. Line
# breaks are all kept and the output starts with `#line 1 "path"`, so
# diagnostics and __FILE__/__LINE__ name the .cu file's lines.
use strict;
use warnings;

my $path = shift // '-';
(my $quoted = $path) =~ s/([\\"])/\\$1/g;

local $/;
my $src = <STDIN>;

# Comments and literals match as wholes and go back as they were, so a
# `<<<` in them is never taken for a launch. A launch's config stops at
# `;`, `{` or `}`: a `>>>` never matched there is not reached for further
# on.
my $gap = qr/(?:\s|\\\n)*/;
$src =~ s{
    ( /\*.*?\*/ | //[^\n]* | "(?:\\.|[^"\\\n])*" | '(?:\\.|[^'\\\n])*' )
  | \b([A-Za-z_]\w*)($gap)<<<([^;{}]*?)>>>(?=$gap\()
}{ defined $1 ? $1 : "pp_emu_launch($2$3, $4)" }gsex;

print "#line 1 \"$quoted\"\n", $src;
