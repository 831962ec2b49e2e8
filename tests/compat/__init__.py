"""Code written for the guide's original module (roles.shared_tools.redis_tools), run against
roleredis."""
