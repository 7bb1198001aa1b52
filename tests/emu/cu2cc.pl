#!/usr/bin/perl
# tests/emu/cu2cc.pl - turn a .cu file into C++ for kernel_emu.h:
#
#   perl tests/emu/cu2cc.pl layers/x.cu <layers/x.cu >x.cc
#
# Every launch `name<<<cfg>>>(` becomes `pp_emu_launch(name, cfg)(`, also
# across lines and backslash continuations (launches inside macros).
# In a function, a declaration `__shared__ T a[n], b;` is followed by
# `pp_emu_shared((void *)&a, sizeof a);` for each name, which poisons the
# variable when a block first comes by, and `extern __shared__ T a[];`
# becomes `T *const a = pp_emu_dynamic_shared();`. Outside functions,
# either is a compile error (static_assert): not emulated. Comments,
# strings and everything else pass through untouched. Line breaks are all
# kept and the output starts with `#line 1 "path"`, so diagnostics and
# __FILE__/__LINE__ name the .cu file's lines.
use strict;
use warnings;

my $path = shift // '-';
(my $quoted = $path) =~ s/([\\"])/\\$1/g;

local $/;
my $src = <STDIN>;

sub refuse {
    my ($what) = @_;
    return " static_assert(false, \"kernel_emu: $what\");";
}

# The names a `__shared__` declaration declares: of each declarator at
# the top level (commas inside (), [] or <> do not count), the last
# identifier before its dimensions, attributes and keywords left out.
sub declared_names {
    my ($decl) = @_;
    my @parts;
    my ($cur, $nest, $angle) = ('', 0, 0);
    for my $c (split //, $decl) {
        if ($c eq '(' || $c eq '[') { $nest++ }
        elsif ($c eq ')' || $c eq ']') { $nest-- }
        elsif ($nest == 0 && $c eq '<') { $angle++ }
        elsif ($nest == 0 && $c eq '>') { $angle-- }
        elsif ($nest == 0 && $angle == 0 && $c eq ',') {
            push @parts, $cur;
            $cur = '';
            next;
        }
        $cur .= $c;
    }
    push @parts, $cur;
    my @names;
    for my $p (@parts) {
        $p =~ s/[\[=].*//s;
        1 while $p =~ s/\([^()]*\)//;
        my @ids = grep { !/^__\w*__$/ } $p =~ /\b([A-Za-z_]\w*)/g;
        return () unless @ids;
        push @names, $ids[-1];
    }
    return @names;
}

sub shared {
    my ($text, $decl, $in_function) = @_;
    return $text . refuse('__shared__ outside a function is not emulated: '
                          . 'declare it in the kernel') unless $in_function;
    my @names = declared_names($decl);
    return $text . refuse('cu2cc.pl cannot read this __shared__ declaration')
        unless @names;
    return $text . join('', map { " pp_emu_shared((void *)&$_, sizeof $_);" }
                        @names);
}

sub dynamic_shared {
    my ($text, $decl, $in_function) = @_;
    return $text . refuse('extern __shared__ outside a function is not '
                          . 'emulated: declare it in the kernel')
        unless $in_function;
    return $text . refuse('cu2cc.pl reads only `extern __shared__ T name[];`')
        unless $decl =~ /^([^\[\],=]*?)\b([A-Za-z_]\w*)\s*\[\s*\]\s*$/s;
    my ($type, $name) = ($1, $2);
    # The line breaks outside the type stay.
    (my $breaks = $text) =~ s/\Q$type\E//;
    $breaks =~ s/[^\\\n]//g;
    $type =~ s/^[ \t]+//;
    return "$breaks$type*const $name = pp_emu_dynamic_shared();";
}

# Comments and literals match as wholes and go back as they were, so a
# `<<<` or `__shared__` in them is never taken for code. Braces are
# counted, `extern "C" {` and `namespace x {` apart, to tell a function
# from file scope. A launch's config stops at `;`, `{` or `}`: a `>>>`
# never matched there is not reached for further on.
my $gap = qr/(?:\s|\\\n)*/;
my @braces; # of each open brace: whether it is in a function
$src =~ s{
    ( /\*.*?\*/ | //[^\n]* | "(?:\\.|[^"\\\n])*" | '(?:\\.|[^'\\\n])*' )
  | ( \bextern$gap"C"$gap\{ | \bnamespace\b[^\{;()]*\{ )
  | ( \{ )
  | ( \} )
  | ( \bextern${gap}__shared__\b([^;{}\#]*); )
  | ( \b__shared__\b([^;{}\#]*); )
  | \b([A-Za-z_]\w*)($gap)<<<([^;{}]*?)>>>(?=$gap\()
}{
    defined $1 ? $1
  : defined $2 ? do { push @braces, 0; $2 }
  : defined $3 ? do { push @braces, 1; $3 }
  : defined $4 ? do { pop @braces; $4 }
  : defined $5 ? dynamic_shared($5, $6, scalar grep { $_ } @braces)
  : defined $7 ? shared($7, $8, scalar grep { $_ } @braces)
  : "pp_emu_launch($9$10, $11)"
}gsex;

print "#line 1 \"$quoted\"\n", $src;
