<?php

namespace Wiremesh\Laravel\Console;

/** An app's .env file, edited line by line: values are added or set, nothing else is touched. */
final class EnvFile
{
    private string $text;

    public function __construct(private readonly string $path)
    {
        $this->text = is_file($path) ? (string) file_get_contents($path) : '';
    }

    /** The value of `$name` as written (quotes removed), or null when it is absent or empty. */
    public function get(string $name): ?string
    {
        if (! preg_match('/^'.preg_quote($name, '/').'=(.*)$/m', $this->text, $m)) {
            return null;
        }
        $value = trim($m[1]);
        if (strlen($value) >= 2 && ($value[0] === '"' || $value[0] === "'") && $value[-1] === $value[0]) {
            $value = substr($value, 1, -1);
        }

        return $value === '' || $value === 'null' ? null : $value;
    }

    /** Sets `$name` unless it already has a value (or, with `$replace`, unless it has this one); answers whether it changed. */
    public function set(string $name, string $value, bool $replace = false): bool
    {
        $current = $this->get($name);
        if ($current === $value || ($current !== null && ! $replace)) {
            return false;
        }
        $line = $name.'='.(preg_match('/^[A-Za-z0-9_.:\/\-]*$/', $value) ? $value : '"'.addcslashes($value, '"\\').'"');
        $pattern = '/^'.preg_quote($name, '/').'=.*$/m';
        if (preg_match($pattern, $this->text)) {
            $this->text = (string) preg_replace_callback($pattern, fn () => $line, $this->text, 1);
        } else {
            $this->text = rtrim($this->text, "\n").($this->text === '' ? '' : "\n").$line."\n";
        }

        return true;
    }

    public function save(): void
    {
        file_put_contents($this->path, $this->text);
    }
}
