module benchbaselines/go

go 1.19
