"""From codes to theory: construct frameworks, focused categories, construct mapping, memos, dyad
analyses, saturation and agreement figures."""
