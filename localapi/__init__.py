"""Docker-free `sam local start-api`: SAM CLI's API Gateway emulation in front of warm worker processes."""
