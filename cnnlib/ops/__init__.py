"""From-scratch operations the first chapters build, in their finished, validated form."""
